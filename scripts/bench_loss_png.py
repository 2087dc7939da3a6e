"""Time `plot_history` (RUN_DIR/loss.png, redrawn after every epoch) over a run of EPOCHS
epochs, optionally against an older copy of the package, interleaved so both see the
same load.

    .venv/bin/python scripts/bench_loss_png.py --epochs 40 --repeats 3
    git archive HEAD~5 painter | tar -x -C /tmp/before
    .venv/bin/python scripts/bench_loss_png.py --baseline /tmp/before

Each repeat is a fresh process that draws the file as training does: after epoch 1, 2, …,
EPOCHS, from that many rows of a CycleGAN history (losses, lr, MiFID every fifth epoch).
Prints, for each package, the first call (the module's and the plotting library's imports
included), the median call and the total over the run, each the min over the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys, tempfile, time
from pathlib import Path
t0 = time.perf_counter()
from painter.train.history import plot_history
epochs = int(sys.argv[1])
rows = []
for e in range(1, epochs + 1):
    g = 8.0 / e + 1.0
    row = {"epoch": e, "step": 300 * e, "seconds": 61.5, "lr": 2e-4, "G_loss": g,
           "F_loss": g * 1.1, "D_X_loss": 0.25 - 0.001 * e, "D_Y_loss": 0.24 - 0.001 * e,
           "cycle_loss": 5.0 / e, "identity_loss": 2.5 / e}
    if e % 5 == 0:
        row.update(mifid=120.0 - e, fid=110.0 - e, distance=0.2, track_seconds=30.0)
    rows.append(row)
out = Path(tempfile.mkdtemp()) / "loss.png"
calls = []
for n in range(1, epochs + 1):
    start = time.perf_counter()
    plot_history(rows[:n], out)
    calls.append(time.perf_counter() - start)
    if n == 1:
        first = time.perf_counter() - t0  # the imports too, as a fresh training process pays
print(json.dumps({"first": first, "calls": calls, "bytes": out.stat().st_size}))
"""


def _run(package_root: Path | None, epochs: int) -> dict:
    env = dict(os.environ)
    if package_root is not None:
        env["PYTHONPATH"] = str(package_root)
    # Not run from the checkout: `python -c` puts its folder before PYTHONPATH.
    result = subprocess.run([sys.executable, "-c", PROBE, str(epochs)], env=env, cwd=Path.home(),
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder holding an older painter/ to compare with")
    args = parser.parse_args()
    packages = {"current": None}
    if args.baseline is not None:
        packages = {"baseline": args.baseline, "current": None}
    results: dict[str, list[dict]] = {name: [] for name in packages}
    for _ in range(args.repeats):
        for name, root in packages.items():
            results[name].append(_run(root, args.epochs))
    for name, runs in results.items():
        first = min(r["first"] for r in runs) * 1e3
        median = min(statistics.median(r["calls"]) for r in runs) * 1e3
        total = min(sum(r["calls"]) for r in runs)
        print(f"{name:8s} first call {first:6.0f} ms, median call {median:6.1f} ms, "
              f"{args.epochs} epochs {total:6.2f} s, loss.png {runs[-1]['bytes']:,} B")


if __name__ == "__main__":
    main()
