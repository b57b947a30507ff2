"""Drives the daemon's Deepgram-compatible live socket with the official `deepgram-sdk`,
unchanged, pointed at the daemon.

Usage: deepgram_live.py BASE_URL TOKEN WAV. Streams the WAV file as it is (a WAV stream: no
`encoding`), the first half, then `Finalize`, waits for the answer `from_finalize`, then the
rest and `CloseStream`; then the same audio as raw `linear16`. Prints one JSON object of what
the SDK parsed; anything it cannot read raises, and the exit status is not zero.
"""
import hashlib
import json
import sys
import threading
import wave

from deepgram import DeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.core.events import EventType
from deepgram.environment import DeepgramClientEnvironment
from websockets.exceptions import InvalidStatus

base_url, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
socket_url = base_url.replace("http://", "ws://", 1)
environment = DeepgramClientEnvironment(base=base_url, production=socket_url, agent=socket_url, agent_rest=base_url)
# Bytes per message, as an app reading a file sends them.
CHUNK = 8000
# Longest wait for an answer: a guard against a hung daemon, not a pace.
LIMIT = 300


def client(key):
    return DeepgramClient(api_key=key, environment=environment)


def message_json(message):
    return message.dict() if hasattr(message, "dict") else message


class Listener:
    """Collects what the socket sends, on a thread of its own, as the SDK's examples do."""

    def __init__(self, socket):
        self.messages, self.errors = [], []
        self.changed = threading.Condition()
        socket.on(EventType.MESSAGE, self.message)
        socket.on(EventType.ERROR, lambda err: self.errors.append(repr(err)))
        self.thread = threading.Thread(target=socket.start_listening, daemon=True)
        self.thread.start()

    def message(self, message):
        with self.changed:
            self.messages.append(message_json(message))
            self.changed.notify_all()

    def wait_for(self, test):
        with self.changed:
            if not self.changed.wait_for(lambda: any(test(m) for m in self.messages), timeout=LIMIT):
                raise TimeoutError("no such message")


def stream(audio, **options):
    """Streams `audio`; returns everything the socket sent and the moment of `Finalize`."""
    with client(token).listen.v1.connect(model="nova-3", **options) as socket:
        listener = Listener(socket)
        half = len(audio) // 2
        for at in range(0, half, CHUNK):
            socket.send_media(audio[at:min(at + CHUNK, half)])
        socket.send_keep_alive()
        socket.send_finalize()
        listener.wait_for(lambda m: m.get("type") == "Results" and m.get("from_finalize"))
        finalized_at = len(listener.messages)
        for at in range(half, len(audio), CHUNK):
            socket.send_media(audio[at:at + CHUNK])
        socket.send_close_stream()
        listener.thread.join(LIMIT)
        return {
            "messages": listener.messages,
            "errors": listener.errors,
            "finalized_at": finalized_at,
            "closed": not listener.thread.is_alive(),
            "sent_sha256": hashlib.sha256(audio).hexdigest(),
        }


with open(path, "rb") as f:
    wav_bytes = f.read()
with wave.open(path, "rb") as w:
    pcm, rate, channels = w.readframes(w.getnframes()), w.getframerate(), w.getnchannels()

out = {
    "wav": stream(wav_bytes, smart_format="true", interim_results="true", vad_events="true", utterance_end_ms="1000"),
    "linear16": stream(pcm, encoding="linear16", sample_rate=rate, channels=channels),
}
try:
    with client("wrong").listen.v1.connect(model="nova-3") as socket:
        out["wrong_token"] = None
except ApiError as err:
    out["wrong_token"] = {"status": err.status_code}
except InvalidStatus as err:
    # This SDK release maps only the older websockets' exception to ApiError.
    out["wrong_token"] = {"status": err.response.status_code}

print(json.dumps(out))
