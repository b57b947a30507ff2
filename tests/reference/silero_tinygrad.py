"""Silero VAD v6's own reference for `silero_vad_16k.safetensors`: the wheel's
`tinygrad_model.py`, run unchanged with tinygrad on the CPU, frame by frame as its docstring
shows. Prints the speech probability of every 512-sample frame as a JSON list.

usage: silero_tinygrad.py PACKAGE_DIR WEIGHTS PCM
  PACKAGE_DIR  the wheel's silero_vad/ folder (holds tinygrad_model.py)
  WEIGHTS      silero_vad_16k.safetensors
  PCM          16 kHz mono s16le samples
"""

import importlib.util
import json
import pathlib
import sys

import numpy as np
from tinygrad import Tensor, TinyJit
from tinygrad.nn.state import load_state_dict, safe_load

FRAME, CONTEXT = 512, 64


def main():
    package, weights, pcm = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("tinygrad_model", pathlib.Path(package) / "tinygrad_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TinySileroVAD()
    load_state_dict(model, safe_load(weights), verbose=False)

    # Compiled once, replayed for every frame.
    @TinyJit
    def step(x, state):
        out, state = model(x, state)
        return out.realize(), state.realize()

    audio = np.fromfile(pcm, dtype="<i2").astype(np.float32) / 32768.0
    audio = np.concatenate([np.zeros(CONTEXT, np.float32), audio, np.zeros((-len(audio)) % FRAME, np.float32)])
    state = Tensor.zeros(2, 1, 128).contiguous().realize()
    probs = []
    for i in range(CONTEXT, len(audio), FRAME):
        out, state = step(Tensor(audio[None, i - CONTEXT:i + FRAME].copy()).realize(), state)
        state = state.contiguous().realize()
        probs.append(float(out.numpy().item()))
    json.dump(probs, sys.stdout)


if __name__ == "__main__":
    main()
