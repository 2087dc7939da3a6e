"""Inference throughput (images/s) of the stylizer beside the ResNet-9 generator, in one run.

    python scripts/bench_stylizer.py [--batch 8] [--repeats 3]

Rows, each a forward pass (training=False) of a batch of random images, timed after one
warm-up call, the rows interleaved `--repeats` times so that a change in the machine's load
hits all of them (the median is reported):

- `resnet9@256`: the CycleGAN ResNet-9 generator (`build_generator`, defaults) at 256 px;
- `transformer@256`, `transformer@384`: `style_transformer` alone, with a style vector per image;
- `predictor@256`: `style_predictor` on 256-px images;
- `paint@256→384`: `Stylizer.paint` on 256-px photos as the release runs it (each photo's own
  style vector, Lanczos up to 384, transformer, back to 256), NumPy in and out;
- `paint@256`: the same with `content_size=None` (transformer at 256).

Random weights cost the same time as trained ones, so the stylizer's weights need not be
cached. Timings on a shared machine vary with its load: the load is printed beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from painter.config import CycleGANConfig  # noqa: E402
from painter.models.generators import build_generator  # noqa: E402
from painter.models.stylizer import STYLE_DIM, Stylizer  # noqa: E402


def rows(batch: int) -> dict:
    """{name: a no-argument callable that processes one batch}."""
    rng = np.random.default_rng(0)
    images = {size: tf.constant(rng.uniform(0, 1, (batch, size, size, 3)), tf.float32)
              for size in (256, 384)}
    style = tf.constant(rng.normal(0, 1, (batch, STYLE_DIM)), tf.float32)
    photos = rng.integers(0, 256, (batch, 256, 256, 3), dtype=np.uint8)

    resnet = build_generator(CycleGANConfig(image_size=256, generator="resnet"), "gen_G")
    release = Stylizer(weights=None)  # content_size=384
    native = Stylizer(weights=None, content_size=None)
    native.predictor, native.transformer = release.predictor, release.transformer

    resnet_call = tf.function(lambda x: resnet(x * 2.0 - 1.0, training=False))
    transformer_call = tf.function(lambda x, s: release.transformer([x, s], training=False))
    predictor_call = tf.function(lambda x: release.predictor(x, training=False))
    return {
        "resnet9@256": lambda: resnet_call(images[256]).numpy(),
        "transformer@256": lambda: transformer_call(images[256], style).numpy(),
        "transformer@384": lambda: transformer_call(images[384], style).numpy(),
        "predictor@256": lambda: predictor_call(images[256]).numpy(),
        "paint@256→384": lambda: release.paint(photos, style.numpy(), 0.5),
        "paint@256": lambda: native.paint(photos, style.numpy(), 0.5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} batch={args.batch} "
          f"repeats={args.repeats} tf={tf.__version__}")
    calls = rows(args.batch)
    for call in calls.values():
        call()  # trace and warm up
    times = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    base = args.batch / statistics.median(times["resnet9@256"])
    for name, spent in times.items():
        rate = args.batch / statistics.median(spent)
        print(f"{name:>16}: {rate:7.2f} images/s  ({rate / base:5.2f}× resnet9@256; "
              f"median of {len(spent)} batches, min {min(spent):.2f} s, max {max(spent):.2f} s)")
    print(f"load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
