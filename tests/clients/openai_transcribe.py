"""Drives the fake OpenAI-compatible transcriptions endpoint with the official `openai` client,
unchanged, in every response format.

Usage: openai_transcribe.py BASE_URL KEY WAV. Prints one JSON object of what the client parsed;
any answer the client cannot read raises, and the exit status is not zero.
"""
import json
import sys

import openai

base_url, key, wav = sys.argv[1], sys.argv[2], sys.argv[3]
client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)


def transcribe(**kwargs):
    with open(wav, "rb") as audio:
        return client.audio.transcriptions.create(file=audio, **kwargs)


out = {}
verbose = transcribe(model="whisper-1", response_format="verbose_json", timestamp_granularities=["word", "segment"])
out["verbose_json"] = {
    "text": verbose.text,
    "language": verbose.language,
    "duration": verbose.duration,
    "words": [{"word": w.word, "start": w.start, "end": w.end} for w in verbose.words],
    "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in verbose.segments],
}
out["json"] = transcribe(model="whisper-1", response_format="json").text
out["text"] = transcribe(model="whisper-1", response_format="text")
out["srt"] = transcribe(model="whisper-1", response_format="srt")
out["vtt"] = transcribe(model="whisper-1", response_format="vtt")
out["gpt_4o_json"] = transcribe(model="gpt-4o-transcribe", response_format="json").text

try:
    transcribe(model="gpt-4o-transcribe", response_format="verbose_json")
    out["gpt_4o_verbose"] = None
except openai.BadRequestError as err:
    out["gpt_4o_verbose"] = {"status": err.status_code, "param": err.param, "message": err.message}
try:
    with open(wav, "rb") as audio:
        openai.OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0).audio.transcriptions.create(file=audio, model="whisper-1")
    out["wrong_key"] = None
except openai.AuthenticationError as err:
    out["wrong_key"] = {"status": err.status_code, "code": err.code}
try:
    client.audio.transcriptions.create(file=("big.wav", b"\0" * (26 * 1024 * 1024)), model="whisper-1")
    out["too_large"] = None
except openai.APIStatusError as err:
    out["too_large"] = {"status": err.status_code, "message": err.message}

print(json.dumps(out))
