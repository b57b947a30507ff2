"""Drives the daemon's Wyoming server with the PyPI `wyoming` package's own client and
events, unchanged, as Home Assistant's Wyoming integration does.

Usage: wyoming_asr.py PORT WAV [whole]. Asks `describe`, then transcribes WAV with the default
program (it streams), then with `whisper-local` by name if `whole` is given; then sends a
malformed event. Prints one JSON object of what the client read.
"""
import asyncio
import json
import sys
import time
import wave

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import async_read_event
from wyoming.info import Describe, Info

HOST = "127.0.0.1"
port, path = int(sys.argv[1]), sys.argv[2]
# Samples per chunk, as Home Assistant sends them.
SAMPLES = 1024
# Longest wait for one event: a guard against a hung server, not a pace.
LIMIT = 300


async def describe():
    async with AsyncTcpClient(HOST, port) as client:
        await client.write_event(Describe().event())
        event = await asyncio.wait_for(client.read_event(), LIMIT)
        if Error.is_type(event.type):
            return {"error": Error.from_event(event).text}
        info = Info.from_event(event)
        return [
            {
                "name": p.name,
                "streaming": p.supports_transcript_streaming,
                "models": [m.name for m in p.models],
                "languages": len(p.models[0].languages),
                "english": "en" in p.models[0].languages,
            }
            for p in info.asr
        ]


async def transcribe(name=None):
    """Sends the WAV as a voice command; returns the events that came back, in order."""
    with wave.open(path, "rb") as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        frames = w.readframes(w.getnframes())
    seen = []
    async with AsyncTcpClient(HOST, port) as client:
        await client.write_event(Transcribe(name=name, language="en").event())
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = SAMPLES * width * channels
        for at in range(0, len(frames), step):
            await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=frames[at:at + step]).event())
        await client.write_event(AudioStop().event())
        stopped = time.monotonic()
        while True:
            event = await asyncio.wait_for(client.read_event(), LIMIT)
            if event is None:
                seen.append({"type": "closed"})
                break
            if Transcript.is_type(event.type):
                seen.append({"type": "transcript", "text": Transcript.from_event(event).text, "ms": round((time.monotonic() - stopped) * 1000)})
                if name is not None:
                    break
            elif TranscriptChunk.is_type(event.type):
                seen.append({"type": "transcript-chunk", "text": TranscriptChunk.from_event(event).text})
            elif TranscriptStart.is_type(event.type) or TranscriptStop.is_type(event.type):
                seen.append({"type": event.type})
                if TranscriptStop.is_type(event.type):
                    break
            elif Error.is_type(event.type):
                seen.append({"type": "error", "text": Error.from_event(event).text})
                break
    return seen


async def malformed():
    """A line that is not an event, written on a plain socket; the answer read by the package."""
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"this is not an event\n")
    await writer.drain()
    event = await asyncio.wait_for(async_read_event(reader), LIMIT)
    after = await asyncio.wait_for(async_read_event(reader), LIMIT)
    writer.close()
    return {"type": event.type, "text": Error.from_event(event).text, "then": None if after is None else after.type}


async def main():
    out = {"programs": await describe()}
    if isinstance(out["programs"], dict):
        print(json.dumps(out))
        return
    out["streaming"] = await transcribe()
    if "whole" in sys.argv[3:]:
        out["whole"] = await transcribe("whisper-local")
        out["malformed"] = await malformed()
    print(json.dumps(out))


asyncio.run(main())
