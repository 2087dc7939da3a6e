"""What keeping the generator's moving average (`ema_decay`) costs a CycleGAN step, kept
inside the compiled step (painter's way, `painter.train.ema`) against an eager update
after each step (what a Keras callback would do), both against no average.

    python scripts/bench_ema.py --size 64 --filters 32 --blocks 6 --steps 8 --rounds 3

The three models are built with the same config in one process and timed in interleaved
rounds (A, B, C, A, B, C, …), so a shared machine's load falls on all three alike; the
figures to compare are the ratios. Prints the median seconds per step of each and the
ratios to the step without an average.
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
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--filters", type=int, default=32, help="gen_filters (ngf)")
    parser.add_argument("--blocks", type=int, default=6, help="residual blocks")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jit", action="store_true", help="XLA-compile the step")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from painter.config import load_config
    from painter.train.run import build_training_model

    base = dataclasses.replace(
        load_config("cyclegan"), image_size=args.size, gen_filters=args.filters,
        residual_blocks=args.blocks, batch_size=args.batch, jit_compile=args.jit,
    )
    strategy = tf.distribute.get_strategy()
    models = {
        "no average": build_training_model(base, 100, strategy, args.jit),
        "in-step average": build_training_model(
            dataclasses.replace(base, ema_decay=0.999), 100, strategy, args.jit),
        "eager average": build_training_model(
            dataclasses.replace(base, ema_decay=0.999), 100, strategy, args.jit),
    }
    # The eager variant: the same update, run from Python after each compiled step.
    eager = models["eager average"]
    eager_ema = eager.generator_ema
    del eager.train_step, eager.generator_ema  # back to the class's own step
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, args.batch, args.size, args.size, 3)).astype("float32")
    iterator = iter(tf.data.Dataset.from_tensors((images[0], images[1])).repeat())
    for model in models.values():
        model.make_train_function()
        float(model.train_function(iterator)["G_loss"])  # trace (and compile)
    eager_ema.update()

    times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, model in models.items():
            for _ in range(args.steps):
                started = time.perf_counter()
                float(model.train_function(iterator)["G_loss"])  # waits for the step
                if model is eager:
                    eager_ema.update()
                times[name].append(time.perf_counter() - started)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CycleGAN ResNet-{args.blocks} ngf {args.filters} at {args.size} px, batch "
          f"{args.batch}{', XLA' if args.jit else ''}; {args.rounds} rounds of {args.steps} "
          f"steps each; load average {load:.1f}; generator variables "
          f"{len(models['no average'].gen_G.weights)}")
    reference = statistics.median(times["no average"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:16s} {median * 1000:8.1f} ms/step  ×{median / reference:.3f}")


if __name__ == "__main__":
    main()
