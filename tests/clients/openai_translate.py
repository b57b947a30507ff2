"""Asks the daemon's OpenAI-compatible API for an English translation with the official
`openai` client, unchanged.

Usage: openai_translate.py BASE_URL TOKEN AUDIO. Prints one JSON object of what the client
got; anything the client cannot read raises, and the exit status is not zero.
"""
import json
import sys

import openai

base_url, token, audio = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=token, max_retries=0, timeout=600)

out = {}
with open(audio, "rb") as f:
    out["json"] = client.audio.translations.create(file=f, model="whisper-1").text
with open(audio, "rb") as f:
    verbose = client.audio.translations.create(file=f, model="whisper-local", response_format="verbose_json")
out["verbose_json"] = {
    "text": verbose.text,
    "language": verbose.language,
    "duration": verbose.duration,
    "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in verbose.segments or []],
}
with open(audio, "rb") as f:
    out["srt"] = client.audio.translations.create(file=f, model="whisper-1", response_format="srt")
print(json.dumps(out))
