"""Drives the daemon's Deepgram-compatible pre-recorded API with the official `deepgram-sdk`,
unchanged, pointed at the daemon.

Usage: deepgram_prerecorded.py BASE_URL TOKEN WAV. Prints one JSON object of what the SDK
parsed; anything it cannot read raises, and the exit status is not zero.
"""
import json
import sys

from deepgram import DeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment

base_url, token, wav = sys.argv[1], sys.argv[2], sys.argv[3]
socket_url = base_url.replace("http://", "ws://", 1)
environment = DeepgramClientEnvironment(base=base_url, production=socket_url, agent=socket_url, agent_rest=base_url)


def client(key):
    return DeepgramClient(api_key=key, environment=environment)


with open(wav, "rb") as f:
    audio = f.read()

out = {}
response = client(token).listen.v1.media.transcribe_file(request=audio, model="nova-3", smart_format=True, utterances=True, keyterm=["Beckett"])
alternative = response.results.channels[0].alternatives[0]
out["smart"] = {
    "request_id": response.metadata.request_id,
    "duration": response.metadata.duration,
    "models": response.metadata.models,
    "transcript": alternative.transcript,
    "confidence": alternative.confidence,
    "words": [{"word": w.word, "start": w.start, "end": w.end, "punctuated_word": getattr(w, "punctuated_word", None)} for w in alternative.words],
    "utterances": [{"start": u.start, "end": u.end, "transcript": u.transcript} for u in response.results.utterances or []],
}
plain = client(token).listen.v1.media.transcribe_file(request=audio, model="whisper-local")
out["plain"] = {"transcript": plain.results.channels[0].alternatives[0].transcript, "utterances": plain.results.utterances}

try:
    client(token).listen.v1.media.transcribe_url(url="http://example.com/meeting.wav")
    out["url"] = None
except ApiError as err:
    out["url"] = {"status": err.status_code, "body": err.body}
try:
    client("wrong").listen.v1.media.transcribe_file(request=audio)
    out["wrong_token"] = None
except ApiError as err:
    out["wrong_token"] = {"status": err.status_code}

print(json.dumps(out))
