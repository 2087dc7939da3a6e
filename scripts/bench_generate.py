"""How much writing images.zip costs on top of inference (the goal: ≤ 1.1×).

Builds the `quick` config's generator at 256 px (random weights: the time does not depend
on them) and runs the same COUNT inputs (the embedded sample's 32 photos and their
documented variants, exactly what `painter generate` makes of them) twice:

  bare:  inputs → generator → uint8, thrown away
  zip:   inputs → generator → uint8 → ImageZipWriter (JPEG encoding and zip writing on
         background threads) → images.zip

and prints both times and their ratio. Input making (decoding, variants) is in both.

--backend picks Keras' backend (default: KERAS_BACKEND, else tensorflow). Keras fixes it
at import, so with both (`--backend tensorflow,jax`) each runs in its own process, one
after the other, and the parent prints the JAX ÷ TensorFlow ratio of the times.

    .venv/bin/python scripts/bench_generate.py [--count 7000] [--batch 32] \
        [--backend tensorflow|jax|tensorflow,jax]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=7000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--config", default="quick")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"),
                        help="tensorflow, jax, or both comma-separated (each in its own process)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    backends = [b for b in args.backend.split(",") if b]
    if not backends or not set(backends) <= {"tensorflow", "jax"}:
        parser.error(f"--backend {args.backend}: tensorflow, jax or tensorflow,jax")
    if len(backends) > 1:
        compare_backends(backends)
        return
    os.environ["KERAS_BACKEND"] = backends[0]

    import keras
    import numpy as np

    from painter.config import load_config
    from painter.data import SAMPLE_ROOT
    from painter.models.generators import build_generator
    from painter.inference import photo_translator
    from painter.submit.generate import photo_inputs, read_photos, write_submission

    config = load_config(args.config, image_size=256)
    model = build_generator(config, name="gen_G")
    translate = photo_translator(model, 256)
    photos = read_photos((str(SAMPLE_ROOT), "photo"))
    translate(np.zeros((args.batch, 256, 256, 3), np.uint8))  # trace once, outside the timing

    start = time.perf_counter()
    inputs = itertools.islice(photo_inputs(photos), args.count)
    for chunk in iter(lambda: list(itertools.islice(inputs, args.batch)), []):
        translate(np.stack([image for _, image, _ in chunk]))
    bare = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "images.zip"
        result = write_submission(out, photo_inputs(photos), args.count, translate, batch=args.batch)
        size = out.stat().st_size
    if args.json:
        print(json.dumps({"bare": bare, "zip": result.seconds, "count": args.count}))
        return
    print(f"config {args.config} generator at 256 px on {keras.backend.backend()}, "
          f"{model.count_params():,} parameters, batch {args.batch}, {os.cpu_count()} CPUs")
    print(f"bare inference: {args.count:,} images in {bare:.1f}s ({args.count / bare:.1f} images/s)")
    print(f"into images.zip: {result.count:,} images in {result.seconds:.1f}s "
          f"({result.images_per_second:.1f} images/s, {size / 1e6:.0f} MB)")
    print(f"ratio zip/bare: {result.seconds / bare:.3f} (goal ≤ 1.1)")


def compare_backends(backends: list[str]) -> None:
    """This script on each backend in its own process, then the times side by side."""
    argv = sys.argv[1:]
    base = [a for i, a in enumerate(argv)
            if not a.startswith("--backend") and not (i and argv[i - 1] == "--backend")]
    times = {}
    for backend in backends:
        done = subprocess.run([sys.executable, __file__, *base, "--backend", backend, "--json"],
                              env={**os.environ, "KERAS_BACKEND": backend},
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"error: the {backend} process failed:\n{done.stderr[-3000:]}")
        times[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    count = times[backends[0]]["count"]
    print(f"{count:,} images, {os.cpu_count()} CPUs; seconds (images/s):")
    for backend, t in times.items():
        print(f"  {backend:<10} bare {t['bare']:.1f} ({count / t['bare']:.1f})   "
              f"zip {t['zip']:.1f} ({count / t['zip']:.1f})")
    if {"jax", "tensorflow"} <= set(times):
        jax, tf = times["jax"], times["tensorflow"]
        print(f"  time ratio JAX ÷ TensorFlow: bare {jax['bare'] / tf['bare']:.2f}, "
              f"zip {jax['zip'] / tf['zip']:.2f}")


if __name__ == "__main__":
    main()
