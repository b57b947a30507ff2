"""faster-whisper on one clip, for `cargo xtask bench --whisper`: the tool a user would pick
instead of whisper-local, on the same CTranslate2 weights. Prints one JSON line.

usage: run_faster_whisper.py MODEL_DIR AUDIO COMPUTE_TYPE THREADS
"""

import json
import sys
import time

from faster_whisper import WhisperModel


def peak_rss_kib() -> int:
    """This process's peak RSS. Not getrusage: Linux carries ru_maxrss over an exec, so a
    child of a large process would report its parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    model_dir, audio, compute_type, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    started = time.perf_counter()
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads)
    loaded = time.perf_counter()
    # Greedy with word times, as whisper-local decodes.
    segments, _info = model.transcribe(audio, beam_size=1, word_timestamps=True, condition_on_previous_text=True)
    words = [word.word for segment in segments for word in segment.words]
    done = time.perf_counter()
    peak_kib = peak_rss_kib()
    print(json.dumps({
        "load_s": loaded - started,
        "transcribe_s": done - loaded,
        "text": "".join(words).strip(),
        "words": len(words),
        "peak_rss_mib": peak_kib // 1024,
    }))


if __name__ == "__main__":
    main()
