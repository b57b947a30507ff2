"""Drives the fake OpenAI-compatible server with the official `openai` client, unchanged.

Usage: openai_chat.py BASE_URL KEY [KEYLESS_BASE_URL]. Prints one JSON object of what the
client parsed; any answer the client cannot read raises, and the exit status is not zero. A
keyless server (as Ollama is) is also driven the way Ollama's documentation reaches its
OpenAI-compatible path: base URL `<server>/v1/`, api_key "ollama".
"""
import json
import sys

import openai

base_url, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
transcript = "Recording title: Sync\n\nTranscript:\n[00:00:05] Bob: I will write the notes.\n[00:00:09] Ann: We decided to ship.\n"
messages = [
    {"role": "system", "content": "Summarise. Answer in JSON."},
    {"role": "user", "content": transcript},
]
schema = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "overview": {"type": "string"}},
    "required": ["title", "overview"],
    "additionalProperties": False,
}
out = {}

whole = client.chat.completions.create(
    model="llama3.2",
    messages=messages,
    response_format={"type": "json_schema", "json_schema": {"name": "summary", "strict": True, "schema": schema}},
)
out["whole"] = {
    "object": whole.object,
    "model": whole.model,
    "finish_reason": whole.choices[0].finish_reason,
    "content": json.loads(whole.choices[0].message.content),
    "total_tokens": whole.usage.total_tokens,
}

text, usage, finish = "", None, None
for chunk in client.chat.completions.create(
    model="llama3.2", messages=messages, response_format={"type": "json_object"}, stream=True, stream_options={"include_usage": True}
):
    assert chunk.object == "chat.completion.chunk"
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        text += choice.delta.content or ""
        finish = choice.finish_reason or finish
out["stream"] = {"content": json.loads(text), "total_tokens": usage, "finish_reason": finish}

tool = {"type": "function", "function": {"name": "record_summary", "parameters": schema}}
arguments = ""
for chunk in client.chat.completions.create(
    model="llama3.2", messages=messages, tools=[tool], tool_choice={"type": "function", "function": {"name": "record_summary"}}, stream=True
):
    for choice in chunk.choices:
        for call in choice.delta.tool_calls or []:
            arguments += call.function.arguments or ""
called = client.chat.completions.create(
    model="llama3.2", messages=messages, tools=[tool], tool_choice={"type": "function", "function": {"name": "record_summary"}}
)
out["tool"] = {
    "streamed": json.loads(arguments),
    "whole": json.loads(called.choices[0].message.tool_calls[0].function.arguments),
    "name": called.choices[0].message.tool_calls[0].function.name,
}

try:
    openai.OpenAI(base_url=f"{base_url}/v1", api_key="wrong", max_retries=0).chat.completions.create(model="m", messages=messages)
    out["wrong_key"] = None
except openai.AuthenticationError as err:
    out["wrong_key"] = {"status": err.status_code, "code": err.code, "message": err.message}
try:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"})
    out["json_object_without_json"] = None
except openai.BadRequestError as err:
    out["json_object_without_json"] = {"status": err.status_code, "param": err.param}

if len(sys.argv) > 3:
    ollama = openai.OpenAI(base_url=f"{sys.argv[3]}/v1/", api_key="ollama", max_retries=0)
    answer = ollama.chat.completions.create(model="llama3.2", messages=messages, response_format={"type": "json_object"})
    streamed = "".join(
        choice.delta.content or ""
        for chunk in ollama.chat.completions.create(model="llama3.2", messages=messages, response_format={"type": "json_object"}, stream=True)
        for choice in chunk.choices
    )
    out["ollama_style"] = {"whole": json.loads(answer.choices[0].message.content), "stream": json.loads(streamed)}

print(json.dumps(out))
