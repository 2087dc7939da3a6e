"""Makes the embedded paired sample (`painter/data/sample_paired/`): 16 real pairs for
pix2pix, from the competition's data.

Each pair is a photo (A, left) beside its colour-matched, Monet-toned version (B, right):
the photo's CIE L*a*b* mean and standard deviation per channel moved onto those of all
the Monets (Reinhard et al. 2001; `painter baseline color-match` does the same), so
pix2pix_quick learns a translation whose target is known exactly. The photos are 16
spread evenly over the sorted names of `photo_jpg/`; each pair is one 512×256 JPEG
(quality 90; both halves on whole 16-px JPEG blocks, so neither half bleeds into the
other), the pix2pix datasets' side-by-side layout.

    .venv/bin/python scripts/make_paired_sample.py [--data ../shared/data/gan-getting-started]

The same data gives the same files (PIL's JPEG encoder is deterministic).
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from painter.data.paired import PAIRED_SAMPLE_ROOT
from painter.submit.baselines import color_stats, match_colors

REPO = Path(__file__).resolve().parents[1]
PAIRS = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get(
        "PAINTER_SHARED_DATA", REPO.parent / "shared" / "data" / "gan-getting-started")),
        help="the competition's data root (photo_jpg/, monet_jpg/)")
    parser.add_argument("--out", type=Path, default=PAIRED_SAMPLE_ROOT)
    args = parser.parse_args()

    photos = sorted((args.data / "photo_jpg").glob("*.jpg"))
    if len(photos) < PAIRS:
        raise SystemExit(f"error: {args.data / 'photo_jpg'}: {len(photos)} photos, need {PAIRS}")
    target = color_stats(str(args.data / "monet_jpg"), space="lab")
    chosen = [photos[round(i * (len(photos) - 1) / (PAIRS - 1))] for i in range(PAIRS)]
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.jpg"):
        old.unlink()
    total = 0
    for path in chosen:
        photo = np.asarray(Image.open(path).convert("RGB").resize((256, 256), Image.BILINEAR))
        toned = match_colors(photo[None], target)[0]
        buffer = io.BytesIO()
        Image.fromarray(np.concatenate([photo, toned], axis=1)).save(buffer, "JPEG", quality=90)
        (args.out / path.name).write_bytes(buffer.getvalue())
        total += len(buffer.getvalue())
    print(f"wrote {PAIRS} pairs to {args.out} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
