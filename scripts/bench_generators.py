"""Seconds per train-like step of the CycleGAN generators: forward, L1 loss, backward and an
Adam update of one generator, at batch 1 (default 256 px).

    python scripts/bench_generators.py [--size 256] [--steps 5] [--jit] [--kinds resnet,unet]

It times one generator pass alone; a full CycleGAN step runs each of its two generators
three times (translation, cycle, identity) with their backward passes, plus two
discriminators, so expect roughly 6× this or more. Timings on a shared machine vary with its load: report the
load beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from painter.config import CycleGANConfig  # noqa: E402
from painter.models.generators import GENERATORS, build_generator  # noqa: E402


def time_generator(kind: str, size: int, steps: int, jit: bool, batch: int = 1) -> list[float]:
    config = CycleGANConfig(image_size=size, generator=kind)
    model = build_generator(config, "gen_G")
    optimizer = keras.optimizers.Adam(2e-4, beta_1=0.5)
    optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(0)
    photo = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)), tf.float32)
    target = tf.constant(rng.uniform(-1, 1, (batch, size, size, 3)), tf.float32)

    @tf.function(jit_compile=jit)
    def step(photo, target):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean(keras.ops.abs(model(photo, training=True) - target))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    step(photo, target).numpy()  # trace and compile
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(photo, target).numpy()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--jit", action="store_true", help="compile the step with XLA")
    parser.add_argument("--kinds", default=",".join(GENERATORS))
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} size={args.size} "
          f"batch={args.batch} jit={args.jit} "
          f"devices={[d.name for d in tf.config.list_logical_devices()]}")
    for kind in args.kinds.split(","):
        times = time_generator(kind, args.size, args.steps, args.jit, args.batch)
        print(f"{kind}: median {statistics.median(times):.3f} s/step "
              f"(min {min(times):.3f}, max {max(times):.3f}, {len(times)} steps) "
              f"load={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
