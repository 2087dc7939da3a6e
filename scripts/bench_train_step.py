"""Seconds per full CycleGAN training step (both generators, both discriminators, four
Adam updates, DiffAugment, image pools) at a given size, on this machine.

    python scripts/bench_train_step.py --generator resnet --size 256 --steps 5
    python scripts/bench_train_step.py --generator unet --size 256 --steps 5 --jit

Reports the first step (tracing, and XLA compilation with --jit) apart from the steady
steps, and the load average, since a shared machine's timings mean little without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", choices=("resnet", "unet"), default="resnet")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after the first")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the step")
    parser.add_argument("--config", default="cyclegan", help="base config (default cyclegan)")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from painter.config import load_config
    from painter.train.run import build_training_model

    config = dataclasses.replace(
        load_config(args.config), generator=args.generator, image_size=args.size,
        batch_size=args.batch, jit_compile=args.jit,
    )
    started = time.perf_counter()
    model = build_training_model(config, 100, tf.distribute.get_strategy(), args.jit)
    built = time.perf_counter() - started
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, args.batch, args.size, args.size, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensors((images[0], images[1])).repeat()
    iterator = iter(dataset)
    model.make_train_function()

    started = time.perf_counter()
    logs = model.train_function(iterator)
    float(logs["G_loss"])
    first = time.perf_counter() - started
    times = []
    for _ in range(args.steps):
        started = time.perf_counter()
        logs = model.train_function(iterator)
        float(logs["G_loss"])  # wait for the step
        times.append(time.perf_counter() - started)
    parameters = sum(int(np.prod(v.shape)) for net in model.networks.values()
                     for v in net.trainable_weights)
    print(
        f"{args.generator} {args.size}px batch {args.batch} xla={args.jit}: "
        f"{statistics.median(times):.2f} s/step (median of {args.steps}; min {min(times):.2f}, "
        f"max {max(times):.2f}); first step {first:.1f} s; build {built:.1f} s; "
        f"{parameters / 1e6:.2f} M trainable parameters; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
