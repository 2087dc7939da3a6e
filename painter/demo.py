"""`painter demo`: the main job on the small real sample shipped in the package.

A plain sequence of steps, each printing where its output went:
1. read the embedded sample (Kaggle layout: monet_jpg/, photo_jpg/) and check it;
2. write it as TFRecords in Kaggle's format;
3. read the TFRecords back and check the JPEG bytes are the sample's, byte for byte;
4. run the training pipeline on them and save a grid of one batch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from painter.errors import DataError
from painter.io import check_output


def run_demo(out_dir: str | os.PathLike = "demo_out", force: bool = False, *,
             log: Callable[[str], None] = print) -> dict[str, Path]:
    """Runs the demo into `out_dir`.

    Args:
        out_dir: the output folder. Default `demo_out`.
        force: write into an existing `out_dir`, replacing the demo's own files.
            Default False: UsageError if it exists.
        log: prints each step. Default `print`.

    Returns:
        The outputs: `tfrecords` (the folder), `sample_grid` (the PNG).
    """
    from painter.data import SAMPLE_ROOT, iter_encoded_images, unpaired_dataset, write_tfrecords
    from painter.viz import save_image_grid

    out_dir = check_output(out_dir, force)
    tfrecord_dir = out_dir / "tfrecords"
    per_file = 16  # two files per domain, so the pipeline interleaves files

    # 1. The embedded sample, read and checked like any source.
    sample = {domain: list(iter_encoded_images((SAMPLE_ROOT, domain)))
              for domain in ("monet", "photo")}
    log(f"1. read the embedded sample {SAMPLE_ROOT}: "
        + ", ".join(f"{len(images)} {domain}" for domain, images in sample.items()))

    # 2. Kaggle's TFRecord format: {prefix}{index:02d}-{count}.tfrec.
    written = {domain: write_tfrecords((SAMPLE_ROOT, domain), tfrecord_dir, domain,
                                       per_file=per_file, force=force)
               for domain in sample}
    names = ", ".join(p.name for w in written.values() for p in w.files)
    log(f"2. wrote TFRecords to {tfrecord_dir}: {names}")

    # 3. Read back: the same images, the same bytes.
    for domain, images in sample.items():
        back = {image.name: image.data
                for image in iter_encoded_images([str(p) for p in written[domain].files])}
        if back != {image.name: image.data for image in images}:
            raise DataError(f"{tfrecord_dir}: the {domain} TFRecords differ from the sample")
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
    return {"tfrecords": tfrecord_dir, "sample_grid": grid}
