"""Benchmark of the TensorFlow-free reader against tf.data, in one process.

    python scripts/bench_reader.py [DATA_ROOT] [--batches N] [--batch-size B]

Reads Kaggle's photo TFRecords (DATA_ROOT/photo_tfrec/; without them, written first from
DATA_ROOT/photo_jpg/ into a temporary folder, byte for byte) and reports:

- frames: the records' payloads, checksums checked, by `tf.data.TFRecordDataset` and by
  the Python frame reader with google-crc32c's C extension (the TF-free path), MB/s;
  the pure-Python CRC32C fallback on one file;
- batches: float32 training batches by `image_dataset` (tf.data) and by
  `painter.data.arrays.image_arrays` (Pillow on Keras' thread pool), images/s, plain and
  augmented; and the unpaired photo+Monet batches of both.

DATA_ROOT defaults to ../shared/data/gan-getting-started. Report the numbers with the
machine (CPU count): both paths use every core they are given.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def seconds_of(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def images_per_second(batches_of, batches: int, batch_size: int) -> float:
    iterator = iter(batches_of)
    next(iterator)  # warm-up: threads started, functions traced
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    default = Path(__file__).resolve().parents[1].parent / "shared/data/gan-getting-started"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=default)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    import tensorflow as tf

    from painter.data import image_dataset, unpaired_dataset, write_tfrecords
    from painter.data.arrays import image_arrays, unpaired_arrays
    from painter.data.tfrecord import _crc32c_python, _frames_python, crc32c

    root, batch = args.root, args.batch_size
    print(f"root {root}; {os.cpu_count()} CPUs; TensorFlow {tf.__version__}")
    with tempfile.TemporaryDirectory() as temp:
        photos = root / "photo_tfrec"
        if not photos.is_dir():
            photos = Path(temp) / "photo_tfrec"
            seconds = seconds_of(lambda: write_tfrecords(root / "photo_jpg", photos, "photo"))
            print(f"wrote {photos} from photo_jpg/ in {seconds:.1f} s")
        files = sorted(photos.glob("*.tfrec"))
        megabytes = sum(p.stat().st_size for p in files) / 1e6

        def tf_frames():
            for _ in tf.data.TFRecordDataset([str(p) for p in files]).batch(64):
                pass

        def python_frames():
            for path in files:
                for _ in _frames_python(path, 0, 0, path.stat().st_size):
                    pass

        print(f"frames of {len(files)} files, {megabytes:.0f} MB (page cache warm):")
        python_frames()
        tf_frames()
        for label, function in (("tf.data TFRecordDataset", tf_frames),
                                ("Python frames, google-crc32c (TF-free)", python_frames)):
            print(f"  {label:<48} {megabytes / seconds_of(function):8.0f} MB/s")
        one = files[0].read_bytes()
        assert crc32c(one) == _crc32c_python(one)
        print(f"  {'pure-Python CRC32C (fallback), one file':<48} "
              f"{len(one) / 1e6 / seconds_of(lambda: _crc32c_python(one)):8.1f} MB/s")

        monets = (root, "monet")
        print(f"batches of {batch} (images/s):")
        for label, make_tf, make_arrays in (
            ("photos, shuffled",
             lambda: image_dataset(photos, batch_size=batch, shuffle=True, repeat=True, seed=0),
             lambda: image_arrays(photos, batch_size=batch, shuffle=True, repeat=True, seed=0)),
            ("photos, shuffled + augmented",
             lambda: image_dataset(photos, batch_size=batch, shuffle=True, repeat=True,
                                   augment=True, seed=0),
             lambda: image_arrays(photos, batch_size=batch, shuffle=True, repeat=True,
                                  augment=True, seed=0)),
            ("unpaired photo+Monet, augmented (pairs/s)",
             lambda: unpaired_dataset(photos, monets, batch_size=batch, seed=0),
             lambda: unpaired_arrays(photos, monets, batch_size=batch, seed=0)[0]),
        ):
            rate_tf = images_per_second(make_tf(), args.batches, batch)
            rate_arrays = images_per_second(_keras_batches(make_arrays()), args.batches, batch)
            print(f"  {label:<48} tf.data {rate_tf:6.0f}   arrays {rate_arrays:6.0f}   "
                  f"(arrays ÷ tf.data {rate_arrays / rate_tf:.2f})")


def _keras_batches(dataset):
    """The batches as `model.fit` draws them: Keras' adapter, its threads preparing ahead."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(dataset)
    adapter.on_epoch_begin()
    return adapter.get_numpy_iterator()


if __name__ == "__main__":
    main()
