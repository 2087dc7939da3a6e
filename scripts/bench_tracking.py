"""What MiFID tracking costs against the training it tracks, at a config's settings.

Times, in one process, a full CycleGAN training step of the config (after the first,
which traces/compiles) and one tracking pass (`MiFIDTracker.score`: translate the
held-out photos, JPEG round trip, FID Inception features, MiFID; after a first pass that
builds the network and reads the Monets' cached features), in wall and CPU seconds, and
reports

    cost = tracking pass / (track_every × steps_per_epoch × step)

CPU seconds are the fairer measure on a shared machine (wall time depends on who else
runs); both are printed, with the load average.

    .venv/bin/python scripts/bench_tracking.py --config cpu_proof \
        --data ../shared/data/gan-getting-started --steps 5
"""

from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(function):
    wall, cpu = time.perf_counter(), _cpu()
    function()
    return time.perf_counter() - wall, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="cpu_proof")
    parser.add_argument("--data", required=True, help="Kaggle-layout data root")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after the first")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from painter.config import load_config
    from painter.rundir import photo_folder, split_photos
    from painter.train import tracking
    from painter.train.run import build_training_model

    config = load_config(args.config)
    split = split_photos(photo_folder(args.data),
                         track_photos=config.track_photos, score_photos=config.score_photos)
    tracker = tracking.MiFIDTracker(split.tracking, (args.data, "monet"), every=config.track_every,
                                    log=None)
    model = build_training_model(config, config.steps_per_epoch or 100,
                                 tf.distribute.get_strategy(), config.jit_compile)
    rng = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size, 3)
    images = rng.uniform(-1, 1, (2, *shape)).astype("float32")
    iterator = iter(tf.data.Dataset.from_tensors((images[0], images[1])).repeat())
    model.make_train_function()

    def step():
        float(model.train_function(iterator)["G_loss"])

    first_step = _timed(step)
    steps = [_timed(step) for _ in range(args.steps)]
    step_wall = float(np.median([s[0] for s in steps]))
    step_cpu = float(np.median([s[1] for s in steps]))
    first_track = _timed(lambda: tracker.score(model.gen_G, config.image_size))
    track = _timed(lambda: tracker.score(model.gen_G, config.image_size))
    steps_between = config.track_every * config.steps_per_epoch
    print(f"config {args.config}: {len(split.tracking)} tracked photos every {config.track_every} "
          f"epoch(s) of {config.steps_per_epoch} steps; load average {os.getloadavg()[0]:.1f}")
    print(f"first step {first_step[0]:.0f}s wall / {first_step[1]:.0f}s CPU; then "
          f"{step_wall:.2f}s wall / {step_cpu:.2f}s CPU per step (median of {args.steps})")
    print(f"first tracking pass {first_track[0]:.0f}s wall / {first_track[1]:.0f}s CPU; then "
          f"{track[0]:.1f}s wall / {track[1]:.1f}s CPU")
    print(f"cost: {100 * track[0] / (steps_between * step_wall):.1f}% of training wall time, "
          f"{100 * track[1] / (steps_between * step_cpu):.1f}% of its CPU time "
          f"(first pass: {100 * first_track[1] / (steps_between * step_cpu):.1f}% CPU)")


if __name__ == "__main__":
    main()
