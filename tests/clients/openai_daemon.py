"""Drives the daemon's OpenAI-compatible API with the official `openai` client, unchanged.

Usage: openai_daemon.py BASE_URL TOKEN WAV. Prints one JSON object of what the client got;
anything the client cannot read raises, and the exit status is not zero.
"""
import json
import sys

import openai

base_url, token, wav = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=token, max_retries=0, timeout=600)


def audio():
    return open(wav, "rb")


out = {}
with audio() as f:
    raw = client.audio.transcriptions.with_raw_response.create(file=f, model="whisper-1")
out["json"] = raw.parse().text
out["plugin"] = raw.headers.get("x-scribe-model")
for fmt in ["text", "srt", "vtt"]:
    with audio() as f:
        out[fmt] = client.audio.transcriptions.create(file=f, model="whisper-local", response_format=fmt)
with audio() as f:
    verbose = client.audio.transcriptions.create(file=f, model="whisper-1", response_format="verbose_json", timestamp_granularities=["word", "segment"])
out["verbose_json"] = {
    "text": verbose.text,
    "duration": verbose.duration,
    "language": verbose.language,
    "words": [{"word": w.word, "start": w.start, "end": w.end} for w in verbose.words],
    "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in verbose.segments],
}
deltas, done = [], None
with audio() as f:
    for event in client.audio.transcriptions.create(file=f, model="whisper-1", stream=True):
        if event.type == "transcript.text.delta":
            deltas.append(event.delta)
        elif event.type == "transcript.text.done":
            done = event.text
out["stream"] = {"deltas": len(deltas), "joined": "".join(deltas), "done": done}
out["models"] = [m.id for m in client.models.list()]

try:
    with audio() as f:
        client.audio.translations.create(file=f, model="whisper-1")
    out["translation"] = None
except openai.BadRequestError as err:
    out["translation"] = {"status": err.status_code, "message": err.message}
try:
    with audio() as f:
        client.audio.transcriptions.create(file=f, model="whisper-1", response_format="srt", timestamp_granularities=["word"])
    out["granularities_without_verbose"] = None
except openai.BadRequestError as err:
    out["granularities_without_verbose"] = {"status": err.status_code, "param": err.param}
try:
    with audio() as f:
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0).audio.transcriptions.create(file=f, model="whisper-1")
    out["wrong_token"] = None
except openai.AuthenticationError as err:
    out["wrong_token"] = {"status": err.status_code}

print(json.dumps(out))
