"""How much writing images.zip costs on top of inference (the goal: ≤ 1.1×).

Builds the `quick` config's generator at 256 px (random weights: the time does not depend
on them) and runs the same COUNT inputs (the embedded sample's 32 photos and their
documented variants, exactly what `painter generate` makes of them) twice:

  bare:  inputs → generator → uint8, thrown away
  zip:   inputs → generator → uint8 → ImageZipWriter (JPEG encoding and zip writing on
         background threads) → images.zip

and prints both times and their ratio. Input making (decoding, variants) is in both.

    .venv/bin/python scripts/bench_generate.py [--count 7000] [--batch 32]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=7000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--config", default="quick")
    args = parser.parse_args()

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
    print(f"config {args.config} generator at 256 px, {model.count_params():,} parameters, "
          f"batch {args.batch}, {os.cpu_count()} CPUs")
    print(f"bare inference: {args.count:,} images in {bare:.1f}s ({args.count / bare:.1f} images/s)")
    print(f"into images.zip: {result.count:,} images in {result.seconds:.1f}s "
          f"({result.images_per_second:.1f} images/s, {size / 1e6:.0f} MB)")
    print(f"ratio zip/bare: {result.seconds / bare:.3f} (goal ≤ 1.1)")


if __name__ == "__main__":
    main()
