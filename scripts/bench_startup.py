"""Time `painter ARGS` from process start to exit, in fresh processes, optionally against an
older copy of the package, the runs of the two interleaved so both see the same load.

    .venv/bin/python scripts/bench_startup.py --repeats 7 -- --help
    git archive HEAD~5 painter | tar -x -C /tmp/before
    .venv/bin/python scripts/bench_startup.py --baseline /tmp/before -- --help

`--baseline DIR` runs the console script with `PYTHONPATH=DIR`, so the `painter/` inside DIR
is imported instead of the working tree's. Prints min and median wall seconds for each, and
which of `tensorflow` / `keras` the command imported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Runs the console script's `main` and reports whether TensorFlow came in.
PROBE = (
    "import sys\n"
    "from painter.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "print('imported:', *[m for m in ('tensorflow', 'keras') if m in sys.modules], file=sys.stderr)\n"
)


def _env(package_root: Path | None) -> dict:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell: the CLI sets it itself
    if package_root is not None:
        env["PYTHONPATH"] = str(package_root)
    return env


def time_once(painter_args: list[str], package_root: Path | None) -> float:
    """Wall seconds of one `painter ARGS` (the venv's console script) in a fresh process."""
    script = Path(sys.executable).with_name("painter")
    start = time.perf_counter()
    subprocess.run([str(script), *painter_args], env=_env(package_root), cwd="/",
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def imported(painter_args: list[str], package_root: Path | None) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, *painter_args], env=_env(package_root),
                          cwd="/", capture_output=True, text=True)
    lines = [line for line in done.stderr.splitlines() if line.startswith("imported:")]
    return (lines[-1].removeprefix("imported:").strip() or "neither") if lines else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs of each (default 7)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a folder holding an older painter/ to compare with")
    parser.add_argument("painter_args", nargs="+", help="the arguments after `painter`")
    args = parser.parse_args()

    variants = {"working tree": None}
    if args.baseline is not None:
        variants = {f"baseline ({args.baseline})": args.baseline, **variants}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, root in variants.items():  # warm the file cache once, untimed
        time_once(args.painter_args, root)
    for _ in range(args.repeats):
        for name, root in variants.items():
            times[name].append(time_once(args.painter_args, root))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"painter {' '.join(args.painter_args)}: {args.repeats} runs each, interleaved; "
          f"load average {load:.1f}, {os.cpu_count()} CPUs")
    for name, root in variants.items():
        runs = times[name]
        print(f"  {name}: min {min(runs):.2f} s, median {statistics.median(runs):.2f} s "
              f"(imports: {imported(args.painter_args, root)})")
    if len(variants) == 2:
        before, after = (statistics.median(t) for t in times.values())
        print(f"  median ratio baseline / working tree: {before / after:.1f}")


if __name__ == "__main__":
    main()
