"""A webhook receiver that checks every delivery with the PyPI `standardwebhooks` package,
unchanged, as a receiving service would.

Usage: webhook_receiver.py SECRET LOG PORT FAIL_FIRST. Listens on 127.0.0.1:PORT (0: any free
port) and prints the port on its first line. The first FAIL_FIRST requests are answered 503
(the receiver is "down"); after that a delivery whose signature verifies is answered 204 and
appended to LOG as a JSON line (id, attempt number, the verified payload); one that does not
verify is answered 400 and logged with "verified": false.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret, log, port, fail_first = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
webhook = Webhook(secret)
seen = {"requests": 0, "attempts": {}}


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        seen["requests"] += 1
        message_id = self.headers.get("webhook-id")
        seen["attempts"][message_id] = seen["attempts"].get(message_id, 0) + 1
        if seen["requests"] <= fail_first:
            self.send_response(503)
            self.end_headers()
            return
        try:
            payload = webhook.verify(body, dict(self.headers))
            entry = {"id": message_id, "attempt": seen["attempts"][message_id], "verified": True, "payload": payload}
            status = 204
        except WebhookVerificationError as err:
            entry = {"id": message_id, "verified": False, "error": str(err)}
            status = 400
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
