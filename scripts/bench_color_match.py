"""CPU time of `painter.submit.baselines.match_colors` (the colour-match baseline's per-image
Lab transfer) against the textbook formula it computes, on one batch of 32 random 256-px
images, interleaved rounds; prints the ratio and the largest difference in uint8 levels.

    .venv/bin/python scripts/bench_color_match.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from painter.data.color import lab_to_rgb, rgb_to_lab
from painter.submit.baselines import ColorStats, match_colors


def textbook(images: np.ndarray, target: ColorStats) -> np.ndarray:
    """Reinhard et al.'s transfer as written: (x − mean) / std · std_target + mean_target."""
    values = rgb_to_lab(images)
    mean = values.mean(axis=(-3, -2), keepdims=True)
    std = values.std(axis=(-3, -2), keepdims=True)
    scale = np.where(std > 1e-6, target.std / np.maximum(std, 1e-6), 1.0)
    return lab_to_rgb((values - mean) * scale + target.mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    images = np.random.default_rng(0).integers(0, 256, (32, 256, 256, 3), dtype=np.uint8)
    target = ColorStats(mean=np.array([60.0, 5.0, 10.0]), std=np.array([20.0, 10.0, 15.0]),
                        space="lab", images=1)
    seconds = {"textbook": [], "match_colors": []}
    for _ in range(args.rounds):
        for name, function in (("textbook", textbook), ("match_colors", match_colors)):
            started = time.process_time()
            function(images, target)
            seconds[name].append(time.process_time() - started)
    old, new = (float(np.median(seconds[k])) for k in ("textbook", "match_colors"))
    difference = np.abs(match_colors(images, target).astype(int) - textbook(images, target)).max()
    print(f"32 images at 256 px, CPU seconds per batch (median of {args.rounds} interleaved): "
          f"textbook {old:.3f}, match_colors {new:.3f}, ratio {new / old:.2f}; "
          f"largest difference {difference} uint8 level(s)")


if __name__ == "__main__":
    main()
