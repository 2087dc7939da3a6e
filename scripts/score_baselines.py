"""Local MiFID of the cheap baselines on a photo subset (issue 8's reference numbers).

Writes the first N photos (sorted by name) as they are and colour-matched to the Monets
(Lab and RGB) into temporary zips of exactly N images (no variants: the library call, not
the CLI, which insists on Kaggle's 7,000) and scores each against the Monets.

    .venv/bin/python scripts/score_baselines.py \
        --photos ../shared/data/gan-getting-started/photo_jpg \
        --monets ../shared/data/gan-getting-started/monet_jpg --n 500
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True)
    parser.add_argument("--monets", required=True)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--kinds", default="photos,lab,rgb")
    args = parser.parse_args()

    from painter.metrics import compute_mifid
    from painter.submit.baselines import color_stats, match_colors
    from painter.submit.generate import photo_inputs, read_photos, write_submission

    photos = read_photos(args.photos)[: args.n]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            if kind == "photos":
                transform = lambda batch: batch  # noqa: E731
            else:
                stats = color_stats(args.monets, kind)
                transform = lambda batch, stats=stats: match_colors(batch, stats)  # noqa: E731
            out = Path(tmp) / f"{kind}.zip"
            inputs = itertools.islice(photo_inputs(photos), len(photos))
            write_submission(out, inputs, len(photos), transform, label=kind)
            start = time.perf_counter()
            score = compute_mifid(str(out), args.monets)
            results[kind] = {"mifid": score.mifid, "fid": score.fid, "distance": score.distance,
                             "seconds": round(time.perf_counter() - start, 1)}
            print(kind, json.dumps(results[kind]), flush=True)
    print(json.dumps({"n_photos": len(photos), **results}))


if __name__ == "__main__":
    main()
