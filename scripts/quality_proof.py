"""The quality proof's numbers for a run with held-out scoring photos (`score_photos` > 0).

Scores, against the Monets and on the run's scoring photos only (the last `score_photos`
by name, which neither training nor tracking saw; RUN_DIR/photo_split.json):

    do nothing        the photos as they are
    colour matching   the photos with their Lab mean/std moved onto the Monets'
    last checkpoint   gen_G of the run's last checkpoint
    best checkpoint   gen_G of the checkpoint with the lowest tracked MiFID

and, for a run whose generators start from the data (a matched tone curve or a Lab colour
transfer: `CycleGANConfig.starts_from_data`), a fifth: the untrained start itself (rebuilt
from the run's training photos exactly as training set it), so that what training added
is plain to see.

Every image set goes through a JPEG round trip at quality 95, as a submission does, and
MiFID is Kaggle's formula (`painter.metrics.maths`, scipy's sqrtm: about a minute of CPU
per set). Writes RUN_DIR/quality_proof.json and a grid (photos / colour matching / best)
of the first few scoring photos.

    .venv/bin/python scripts/quality_proof.py runs/cpu_proof \
        --data ../shared/data/gan-getting-started
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--data", type=Path, required=True, help="Kaggle-layout data root")
    parser.add_argument("--grid", type=Path, default=None,
                        help="grid image to write [default: RUN_DIR/quality_proof_grid.jpg]")
    parser.add_argument("--grid-photos", type=int, default=6)
    args = parser.parse_args()

    import numpy as np
    from PIL import Image

    from painter.metrics.maths import (
        activation_statistics,
        frechet_distance,
        memorization_distance,
        mifid,
    )
    from painter.config import load_config
    from painter.submit.baselines import color_stats, match_colors
    from painter.train import checkpoints as ckpt
    from painter.metrics.features import decode_photos, fid_feature_extractor, image_features, jpeg_round_trip
    from painter.metrics.score import real_statistics
    from painter.pretrained import require_weights
    from painter.rundir import split_files
    from painter.train import tracking
    from painter.train.checkpoints import load_generator
    from painter.train.history import read_history
    from painter.viz import image_grid

    weights = require_weights("fid", "quality_proof")
    features = fid_feature_extractor(weights)
    monets = (str(args.data), "monet")
    real = real_statistics(monets, features, cache_weights=weights)
    files = split_files(args.run_dir, "scoring", args.data / "photo_jpg")
    photos = decode_photos(files)
    print(f"{len(files)} scoring photos of {args.run_dir}, {len(real.features)} Monets", flush=True)

    candidates = {"do nothing": lambda: photos,
                  "colour matching": lambda: match_colors(photos, color_stats(monets, "lab"))}
    checkpoints = {}
    for which in ("last", "best"):
        found = ckpt.find_checkpoint(args.run_dir, which)
        checkpoints[which] = {"name": found.name, "epoch": found.epoch,
                              "global_step": found.global_step,
                              "tracked_mifid": found.metrics.get("mifid")}

        def translated(which=which):
            config, generator = load_generator(args.run_dir, which)
            return tracking.translate(generator, photos, config.image_size)

        candidates[f"{which} checkpoint"] = translated

    # The run's resolved config; no network needs building to read it.
    config = load_config(args.run_dir / "config.toml")
    if getattr(config, "starts_from_data", False):
        def start():
            from types import SimpleNamespace

            from painter.families import family_of
            from painter.models import build_generator

            networks = SimpleNamespace(gen_G=build_generator(config, "gen_G"),
                                       gen_F=build_generator(config, "gen_F"))
            training = split_files(args.run_dir, "training", args.data / "photo_jpg")
            family_of(config).start_from_data(networks, config, args.data, photos=training,
                                              log=print)
            return tracking.translate(networks.gen_G, photos, config.image_size)

        candidates["untrained start"] = start

    results, shown = {}, {}
    for label, make in candidates.items():
        started = time.perf_counter()
        images = jpeg_round_trip(np.asarray(make(), dtype=np.uint8))
        generated = image_features(images, features)
        mu, sigma = activation_statistics(generated)
        fid = frechet_distance(mu, sigma, real.mu, real.sigma)
        distance = memorization_distance(generated, real.features)
        results[label] = {"mifid": mifid(fid, distance), "fid": fid, "distance": distance}
        shown[label] = images[: args.grid_photos]
        print(f"{label:>16}: MiFID {results[label]['mifid']:.2f} (FID {fid:.2f}, distance "
              f"{distance:.3f})  [{time.perf_counter() - started:.0f}s]", flush=True)

    curve = [{"epoch": row["epoch"], "step": row.get("step"), "mifid": row["mifid"],
              "seconds": row.get("seconds"), "track_seconds": row.get("track_seconds")}
             for row in read_history(args.run_dir / "history.csv") if "mifid" in row]
    report = {"run_dir": str(args.run_dir), "scoring_photos": len(files),
              "monets": len(real.features), "scores": results, "checkpoints": checkpoints,
              "tracked_curve": curve, "date": time.strftime("%Y-%m-%d")}
    (args.run_dir / "quality_proof.json").write_text(json.dumps(report, indent=1) + "\n")
    grid_path = args.grid or args.run_dir / "quality_proof_grid.jpg"
    rows = [shown["do nothing"], shown["colour matching"], shown["best checkpoint"]]
    grid = image_grid(np.concatenate(rows), cols=len(rows[0]))
    Image.fromarray(grid).save(grid_path, quality=90)
    print(f"wrote {args.run_dir / 'quality_proof.json'} and {grid_path}")


if __name__ == "__main__":
    main()
