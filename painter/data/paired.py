"""Paired images (pix2pix): each input A with the target B it should become.

A paired data folder is in one of the layouts people have:

- `side_by_side`: every image holds A and B side by side, A on the left (the pix2pix
  datasets: facades, maps, edges2shoes). Its width is even and twice its height.
- `folders`: `A/` and `B/` subfolders whose files pair by name (`A/x.jpg` ↔ `B/x.png`:
  the stem decides); both images of a pair have the same size.
- `tfrecord`: `.tfrec` files written by `painter data to-tfrecord --paired` (or
  `write_paired_tfrecords`): records with `image_name`, `image_a` and `image_b`.

The folder is checked before anything is built (`resolve_paired`, `scan_pairs`): a name
with no partner, two sizes in one pair, a side-by-side image whose width is odd or not
twice its height raise one `DataError` naming the file. `direction` "AtoB" (default)
trains A → B, "BtoA" the reverse. Random jitter and mirroring act on both images of a pair
at once (stacked on channels), so they stay aligned.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from painter.data.images import decode_rgb, probe_image
from painter.data.sources import IMAGE_SUFFIXES, TFRECORD_SUFFIXES, kaggle_domains, visible_files
from painter.errors import DataError, UsageError

PAIRED_SAMPLE_ROOT = Path(__file__).resolve().parent / "sample_paired"
DIRECTIONS = ("AtoB", "BtoA")
# Pairs are kept decoded in memory (uint8) when they take at most this much.
_CACHE_BYTES = 1 << 30


@dataclasses.dataclass(frozen=True)
class PairedSource:
    """A resolved paired data folder.

    Attributes:
        layout: "side_by_side", "folders" or "tfrecord".
        root: the folder.
        files: the side-by-side images, the A images, or the TFRecord files; sorted.
        b_files: with "folders": the B image of each A image, in the same order.
    """

    layout: str
    root: Path
    files: tuple[Path, ...]
    b_files: tuple[Path, ...] = ()

    def __str__(self) -> str:
        return str(self.root)


@dataclasses.dataclass(frozen=True)
class PairScan:
    """What a scan of a paired source found: the pair count and the sizes of A images
    (the B images have the same sizes)."""

    source: PairedSource
    count: int
    sizes: frozenset  # {(width, height)} of one image of a pair


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise UsageError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")


def _by_stem(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in visible_files(folder):
        if path.stem in files:
            raise DataError(f"{path}: two images named {path.stem!r} in {folder} "
                            f"(also {files[path.stem].name}); a pair's name must be unique")
        files[path.stem] = path
    return files


def _folders(root: Path) -> PairedSource:
    a, b = _by_stem(root / "A"), _by_stem(root / "B")
    for names, other, side in ((a, b, "B"), (b, a, "A")):
        for stem, path in names.items():
            if stem not in other:
                raise DataError(f"{path}: no image named {stem!r} in {root / side} to pair with")
    if not a:
        raise DataError(f"{root}: A/ and B/ hold no images")
    stems = sorted(a)
    return PairedSource("folders", root, tuple(a[s] for s in stems), tuple(b[s] for s in stems))


def resolve_paired(root: str | os.PathLike) -> PairedSource:
    """The layout and files of a paired data folder (module docstring).

    Raises:
        UsageError: `root` is not a folder, or holds unpaired Kaggle domains instead.
        DataError: an A or B image without its partner, or no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such folder of paired images")
    if (root / "A").is_dir() and (root / "B").is_dir():
        return _folders(root)
    files = visible_files(root)
    tfrecords = [p for p in files if p.suffix.lower() in TFRECORD_SUFFIXES]
    if tfrecords:
        return PairedSource("tfrecord", root, tuple(tfrecords))
    if files:
        return PairedSource("side_by_side", root, tuple(files))
    domains = kaggle_domains(root)
    if domains:
        raise UsageError(
            f"{root} holds unpaired domains ({', '.join(domains)}); paired data is A/ and B/ "
            "folders, side-by-side A|B images, or TFRecords from "
            "`painter data to-tfrecord --paired`"
        )
    raise DataError(f"{root}: no images (paired data is A/ and B/ folders, side-by-side A|B "
                    "images, or paired TFRecords)")


def _probe(data: bytes, origin: str):
    try:
        return probe_image(data)
    except ValueError as e:
        raise DataError(f"{origin}: {e}") from None


def _side_by_side_size(header, origin: str) -> tuple[int, int]:
    """The size of one half of a side-by-side image, after checking its shape."""
    width, height = header.width, header.height
    if width % 2:
        raise DataError(f"{origin}: width {width} is odd; a side-by-side A|B image holds two "
                        "halves of the same width")
    if width != 2 * height:
        raise DataError(f"{origin}: {width}×{height} is not twice as wide as high; a "
                        "side-by-side A|B image holds two square halves")
    return height, height


def _pair_size(header_a, header_b, origin_a: str, origin_b: str) -> tuple[int, int]:
    size_a, size_b = (header_a.width, header_a.height), (header_b.width, header_b.height)
    if size_a != size_b:
        raise DataError(f"{origin_b}: {size_b[0]}×{size_b[1]}, but its pair {origin_a} is "
                        f"{size_a[0]}×{size_a[1]}")
    return size_a


def _record_parts(payload: bytes, origin: str) -> tuple[str, bytes, bytes]:
    from google.protobuf.message import DecodeError

    from painter.data.tfrecord import example_class

    try:
        features = example_class().FromString(payload).features.feature
    except DecodeError as e:
        raise DataError(f"{origin}: not a tf.train.Example ({e})") from None
    parts = []
    for key in ("image_a", "image_b"):
        values = features[key].bytes_list.value if key in features else []
        if len(values) != 1:
            have = ", ".join(sorted(features)) or "no features"
            raise DataError(f"{origin}: no '{key}' image, not a paired record (has: {have}); "
                            "write pairs with `painter data to-tfrecord --paired`")
        parts.append(values[0])
    names = features["image_name"].bytes_list.value if "image_name" in features else []
    name = names[0].decode("utf-8", "replace") if len(names) == 1 else origin
    return name, parts[0], parts[1]


def _encoded_pairs(source: PairedSource) -> Iterator[tuple[str, str, str, bytes, bytes | None]]:
    """(name, where A is, where B is, data, B data or None for a side-by-side image) for
    every pair."""
    if source.layout == "side_by_side":
        for path in source.files:
            yield path.stem, str(path), str(path), path.read_bytes(), None
    elif source.layout == "folders":
        for a, b in zip(source.files, source.b_files):
            yield a.stem, str(a), str(b), a.read_bytes(), b.read_bytes()
    else:
        from painter.data.tfrecord import iter_tfrecord_payloads

        for path in source.files:
            for index, payload in iter_tfrecord_payloads(path):
                origin = f"{path}: record {index}"
                if isinstance(payload, str):
                    raise DataError(f"{origin}: {payload}")
                name, a, b = _record_parts(payload, origin)
                yield name, f"{origin} image_a", f"{origin} image_b", a, b


def _checked_pairs(source: PairedSource):
    """(name, where A is, data, B data or None, size of one image) for every pair,
    checked."""
    for name, origin_a, origin_b, data, b in _encoded_pairs(source):
        if b is None:
            size = _side_by_side_size(_probe(data, origin_a), origin_a)
        else:
            size = _pair_size(_probe(data, origin_a), _probe(b, origin_b), origin_a, origin_b)
        yield name, origin_a, data, b, size


def scan_pairs(source: PairedSource | str | os.PathLike) -> PairScan:
    """Checks every pair of `source` (headers only, no full decode) and counts them.

    Raises:
        DataError: an unreadable image, a pair of two sizes, a side-by-side image with an
            odd width or not twice as wide as high; the message names the file.
    """
    if not isinstance(source, PairedSource):
        source = resolve_paired(source)
    count, sizes = 0, set()
    for *_, size in _checked_pairs(source):
        count += 1
        sizes.add(size)
    if count == 0:
        raise DataError(f"{source}: no pairs")
    return PairScan(source, count, frozenset(sizes))


def _split(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = image.shape[1] // 2
    return image[:, :half], image[:, half:]


def iter_pairs(source: PairedSource | str | os.PathLike, direction: str = "AtoB",
               image_size: int | None = None) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, input, target) uint8 (H, W, 3) images of every pair, checked, in order.

    Args:
        source: a paired data folder or a `PairedSource`.
        direction: "AtoB" (default: input A, target B) or "BtoA".
        image_size: resize both to image_size² (PIL bilinear) when they differ. Default
            None: as stored.
    """
    _check_direction(direction)
    if not isinstance(source, PairedSource):
        source = resolve_paired(source)
    for name, origin, data, b, _ in _checked_pairs(source):
        if b is None:
            image_a, image_b = _split(decode_rgb(data, origin))
        else:
            image_a, image_b = decode_rgb(data, origin), decode_rgb(b, origin)
        if image_size is not None:
            image_a, image_b = (_resized(image, image_size) for image in (image_a, image_b))
        yield (name, image_a, image_b) if direction == "AtoB" else (name, image_b, image_a)


def _resized(image: np.ndarray, image_size: int) -> np.ndarray:
    if image.shape[:2] == (image_size, image_size):
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((image_size, image_size), Image.BILINEAR))


# ---- tf.data ------------------------------------------------------------------------


def paired_jitter(image_size: int = 256, seed: int | None = None):
    """The pix2pix augmentation of a pair: one random mirroring, one resize to
    `round(image_size · 286 / 256)` and one random crop back, applied to both images at
    once (stacked on channels), so the pair stays aligned.

    Returns:
        A function (input, target) → (input, target) of float (H, W, 3) images.
    """
    import tensorflow as tf

    from painter.data.pipeline import random_jitter

    jitter = random_jitter(image_size, seed)

    def augment(inputs, targets):
        both = jitter(tf.concat([inputs, targets], axis=-1))
        return both[..., :3], both[..., 3:]

    return augment


def _decode(data):
    import tensorflow as tf

    # INTEGER_ACCURATE: Pillow's IDCT, so the TensorFlow-free reader sees the same pixels.
    return tf.cond(tf.io.is_jpeg(data),
                   lambda: tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE"),
                   lambda: tf.io.decode_png(data, channels=3))


def _pair_dataset(scan: PairScan):
    """(A, B) uint8 images of every pair, in order."""
    import tensorflow as tf

    source = scan.source
    autotune = tf.data.AUTOTUNE
    if source.layout == "side_by_side":
        files = tf.data.Dataset.from_tensor_slices([str(p) for p in source.files])

        def split(path):
            image = _decode(tf.io.read_file(path))
            half = tf.shape(image)[1] // 2
            return image[:, :half], image[:, half:]

        return files.map(split, num_parallel_calls=autotune)
    if source.layout == "folders":
        files = tf.data.Dataset.from_tensor_slices(
            ([str(p) for p in source.files], [str(p) for p in source.b_files]))
        return files.map(lambda a, b: (_decode(tf.io.read_file(a)), _decode(tf.io.read_file(b))),
                         num_parallel_calls=autotune)
    feature = {key: tf.io.FixedLenFeature([], tf.string) for key in ("image_a", "image_b")}

    def parse(record):
        parsed = tf.io.parse_single_example(record, feature)
        return _decode(parsed["image_a"]), _decode(parsed["image_b"])

    records = tf.data.TFRecordDataset([str(p) for p in source.files])
    return records.map(parse, num_parallel_calls=autotune)


def paired_dataset(
    source: PairedSource | str | os.PathLike,
    *,
    batch_size: int,
    image_size: int = 256,
    direction: str = "AtoB",
    augment: bool = True,
    shuffle: bool = True,
    seed: int | None = 0,
    repeat: bool = True,
):
    """Batches of (input, target) pairs for pix2pix; one epoch shows every pair once.

    Args:
        source: a paired data folder (module docstring) or a `PairedSource`.
        batch_size: the GLOBAL batch size.
        image_size: the size both images are resized to (bilinear, antialiased) when they
            differ. Default 256.
        direction: "AtoB" (default) or "BtoA".
        augment: random jitter and mirroring, the same on both images (`paired_jitter`).
            Default True.
        shuffle: a new order every epoch. Default True.
        seed: seeds the shuffle and the augmentation. Default 0.
        repeat: repeat forever (every epoch a full pass, topped up from the next to fill
            the last batch). Default True; False: one pass, the last partial batch dropped.

    Returns:
        (dataset, steps): float32 (batch_size, image_size, image_size, 3) pairs in [-1, 1];
        `steps` batches make one pass, `ceil(pairs / batch_size)`.

    Raises:
        UsageError / DataError: from `resolve_paired` and `scan_pairs`.
    """
    import tensorflow as tf

    _check_direction(direction)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size=}")
    scan = scan_pairs(source)
    autotune = tf.data.AUTOTUNE
    needs_resize = scan.sizes != {(image_size, image_size)}

    def prepare(a, b):
        images = []
        for image in (a, b):
            image = tf.cast(image, tf.float32)
            if needs_resize:
                image = tf.image.resize(image, [image_size, image_size], antialias=True)
            images.append(tf.ensure_shape(image / 127.5 - 1.0, [image_size, image_size, 3]))
        return tuple(images) if direction == "AtoB" else tuple(images[::-1])

    pairs = _pair_dataset(scan)
    decoded_bytes = scan.count * 2 * 3 * max(w * h for w, h in scan.sizes)
    if decoded_bytes <= _CACHE_BYTES:
        pairs = pairs.cache()  # decoded once, not at every epoch
    if shuffle:
        pairs = pairs.shuffle(scan.count, seed=seed, reshuffle_each_iteration=True)
    steps = math.ceil(scan.count / batch_size)
    if repeat:
        pairs = pairs.repeat().take(steps * batch_size)
    pairs = pairs.map(prepare, num_parallel_calls=autotune)
    if augment:
        pairs = pairs.map(tf.autograph.experimental.do_not_convert(paired_jitter(image_size, seed)),
                          num_parallel_calls=autotune)
    pairs = pairs.batch(batch_size, drop_remainder=True)
    if repeat:
        pairs = pairs.apply(tf.data.experimental.assert_cardinality(steps))
    pairs = pairs.prefetch(autotune)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return pairs.with_options(options), steps if repeat else scan.count // batch_size


# ---- TFRecords ----------------------------------------------------------------------


def serialize_pair(name: str, image_a: bytes, image_b: bytes) -> bytes:
    """A paired record: bytes features image_name, image_a and image_b (encoded images)."""
    from painter.data.tfrecord import serialize_bytes_features

    return serialize_bytes_features({"image_name": name.encode("utf-8"), "image_a": image_a,
                                     "image_b": image_b})


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def write_paired_tfrecords(source: str | os.PathLike, out_dir: str | os.PathLike, prefix: str,
                           per_file: int = 352, force: bool = False):
    """Writes every pair of a paired data folder to TFRecords (`serialize_pair`), named as
    Kaggle's files (`{prefix}00-{count}.tfrec`, …) and written as atomically as
    `write_tfrecords`.

    Pairs from two folders or paired TFRecords keep their bytes; the halves of a
    side-by-side image are stored as PNGs (lossless, so they decode to the same pixels).

    Returns:
        A `WrittenTFRecords` (`reencoded`: the side-by-side images split).

    Raises:
        UsageError: bad options, existing files without `force`, no such folder.
        DataError: a bad pair (see `scan_pairs`); nothing is written then.
    """
    from painter.data.writer import WrittenTFRecords, check_tfrecord_output, write_record_files

    out_dir = Path(out_dir)
    existing = check_tfrecord_output(out_dir, prefix, per_file, force)
    paired = resolve_paired(source)
    counts = {"pairs": 0, "split": 0}

    def records():
        for name, origin, data, b, _ in _checked_pairs(paired):
            if b is None:
                data, b = (_png(half) for half in _split(decode_rgb(data, origin)))
                counts["split"] += 1
            counts["pairs"] += 1
            yield serialize_pair(name, data, b)

    files = write_record_files(records(), out_dir, prefix, per_file, existing,
                               f"{paired}: no pairs to write")
    return WrittenTFRecords(files, counts["pairs"], counts["split"], [])
