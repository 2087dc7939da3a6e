"""Benchmark of the data layer: scan speed and tf.data throughput (images/s).

    python scripts/bench_data.py [DATA_ROOT] [--batches N]

DATA_ROOT is a Kaggle-layout root (default: ../shared/data/gan-getting-started, else the
embedded sample). Numbers depend on the CPU cores tf.data can use; report them with the
machine.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def timed(label: str, function):
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    print(f"{label:<58} {seconds:7.2f} s")
    return result, seconds


def throughput(label: str, dataset, batches: int, images_per_batch: int) -> None:
    iterator = iter(dataset)
    next(iterator)  # warm-up: fills shuffle buffers, traces functions
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    print(f"{label:<58} {batches * images_per_batch / seconds:7.0f} images/s")


def main() -> None:
    from painter.data import SAMPLE_ROOT, count_images, image_dataset, unpaired_dataset

    default = Path(__file__).resolve().parents[1].parent / "shared/data/gan-getting-started"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=default if default.is_dir() else SAMPLE_ROOT)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    root, batch = Path(args.root), args.batch_size
    import tensorflow as tf

    print(f"root {root}; {os.cpu_count()} CPUs; TensorFlow {tf.__version__}")
    for domain in ("monet", "photo"):
        count, _ = timed(f"scan {domain} (count_images, cold or warm page cache)",
                         lambda: count_images((root, domain)))
        print(f"  {count} images")
    throughput(f"image_dataset monet, batch {batch}, shuffle",
               image_dataset((root, "monet"), batch_size=batch, shuffle=True, repeat=True, seed=0),
               args.batches, batch)
    throughput(f"image_dataset monet, batch {batch}, shuffle+augment",
               image_dataset((root, "monet"), batch_size=batch, shuffle=True, repeat=True,
                             augment=True, seed=0), args.batches, batch)
    throughput(f"unpaired photo+monet, batch {batch}, augment (pairs/s)",
               unpaired_dataset((root, "photo"), (root, "monet"), batch_size=batch, seed=0),
               args.batches, batch)


if __name__ == "__main__":
    main()
