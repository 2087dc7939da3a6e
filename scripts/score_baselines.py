"""Local MiFID of the cheap baselines on a photo subset (the reference numbers in docs/BENCHMARKS.md).

Writes the photos as they are, colour-matched to the Monets (Lab, RGB) and painted by the
pretrained stylizer into temporary zips of exactly N images (no variants: the library
call, not the CLI, which insists on Kaggle's 7,000) and scores each against the Monets
with `painter score`'s `compute_mifid` (Kaggle's formula, scipy's sqrtm).

The photos: `--run RUN_DIR` takes that run's scoring photos (the last `score_photos` by
name, which neither its training nor its tracking saw: RUN_DIR/photo_split.json), the set
`scripts/quality_proof.py` scores; otherwise the first `--n` by name.

Kinds (comma-separated): `photos`, `lab`, `rgb`, and `stylize:S[:mean][:lab]`, the
stylizer at strength S with a random Monet's style per photo (or the Monets' `mean`),
optionally followed by the Lab colour transfer (`painter baseline stylize --strength S
[--style mean] [--lab]`) or preceded by it (`labfirst`: the order `base_order =
"color_first"` builds).

    .venv/bin/python scripts/score_baselines.py \
        --photos ../shared/data/gan-getting-started/photo_jpg \
        --monets ../shared/data/gan-getting-started --run runs/cpu_proof \
        --kinds photos,lab,stylize:0.25,stylize:0.5,stylize:0.5:mean,stylize:0.5:lab
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


def transform_of(kind: str, monets):
    """The uint8 batch → uint8 batch map of a kind (module docstring)."""
    from painter.submit.baselines import color_stats, match_colors

    if kind == "photos":
        return lambda batch: batch
    if kind in ("lab", "rgb"):
        stats = color_stats(monets, kind)
        return lambda batch: match_colors(batch, stats)
    name, strength, *options = kind.split(":")
    if name != "stylize" or set(options) - {"mean", "lab", "labfirst"}:
        raise SystemExit(f"unknown kind {kind!r} (photos, lab, rgb, stylize:S[:mean][:lab|:labfirst])")
    from painter.inference import photo_translator
    from painter.submit.paint import stylizer_model

    model = stylizer_model(strength=float(strength), style="mean" if "mean" in options else "random",
                           monets=monets, lab=bool({"lab", "labfirst"} & set(options)),
                           lab_first="labfirst" in options)
    return photo_translator(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", required=True, help="photo folder (or any source)")
    parser.add_argument("--monets", required=True, help="Monets: a folder or a Kaggle root")
    parser.add_argument("--run", type=Path, default=None,
                        help="score this run's scoring photos (its photo_split.json)")
    parser.add_argument("--n", type=int, default=500, help="without --run: the first N photos")
    parser.add_argument("--kinds", default="photos,lab,rgb")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    from painter.metrics import compute_mifid
    from painter.submit.generate import as_source, photo_inputs, read_photos, write_submission

    monets = as_source(args.monets, "monet")
    if args.run is not None:
        from painter.rundir import split_files

        photos = read_photos([str(p) for p in split_files(args.run, "scoring", args.photos)])
    else:
        photos = read_photos(args.photos)[: args.n]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            start = time.perf_counter()
            out = Path(tmp) / "images.zip"
            inputs = itertools.islice(photo_inputs(photos), len(photos))
            write_submission(out, inputs, len(photos), transform_of(kind, monets), label=kind,
                             force=True)
            made = time.perf_counter() - start
            score = compute_mifid(str(out), monets)
            results[kind] = {"mifid": score.mifid, "fid": score.fid, "distance": score.distance,
                             "make_seconds": round(made, 1),
                             "seconds": round(time.perf_counter() - start, 1)}
            print(kind, json.dumps(results[kind]), flush=True)
    report = {"n_photos": len(photos), "photos": "scoring split of " + str(args.run) if args.run
              else f"first {len(photos)} by name", "date": time.strftime("%Y-%m-%d"), **results}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
