"""Kaggle's TFRecords: reading records with their index, and the record format.

A TFRecord file is a run of frames: uint64 length, masked CRC32C of the length, the
payload, masked CRC32C of the payload. Kaggle's payload is a `tf.train.Example` with bytes
features `image_name` (the file stem), `image` (JPEG bytes) and `target` (`monet`/`photo`).

Reading uses `tf.data.TFRecordDataset` (checksums in C++, records fetched in batches)
and counts records, so a bad record is named by its index. When TensorFlow fails on a
batch, a Python reader takes over from the batch's first frame: it says what is wrong
(truncated, corrupt header, checksum mismatch) and, when the frame's length is intact,
goes on with the next record (slow, pure-Python CRC32C at a few MB/s, but only for the
rest of a damaged file). TensorFlow stops quietly at a partial header at the end of a
file; the byte count catches that.
"""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path
from typing import Iterator

from painter.data.images import BadEntry, EncodedImage, Location

_HEADER = 12  # uint64 length + uint32 masked CRC
_FOOTER = 4  # uint32 masked CRC of the payload


@functools.cache
def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord frames use it. Pure Python: a few MB/s."""
    table = _crc32c_table()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _frames_python(
    path: Path, offset: int, index: int, size: int
) -> Iterator[tuple[int, bytes | str, bool]]:
    """(index, payload or reason, resumable) from `offset` on, checking every checksum."""
    with open(path, "rb") as f:
        f.seek(offset)
        while offset < size:
            header = f.read(_HEADER)
            if len(header) < _HEADER:
                yield index, (f"truncated: the file ends inside the record header "
                              f"({len(header)} of {_HEADER} bytes at offset {offset})"), False
                return
            (length,) = struct.unpack("<Q", header[:8])
            (length_crc,) = struct.unpack("<I", header[8:])
            if masked_crc32c(header[:8]) != length_crc:
                hint = " (not an uncompressed TFRecord file?)" if offset == 0 else ""
                yield index, (f"corrupt record header at offset {offset} (length checksum "
                              f"mismatch); the rest of the file is unreadable{hint}"), False
                return
            payload = f.read(length) if length <= size - offset else f.read()
            footer = f.read(_FOOTER)
            if len(payload) < length or len(footer) < _FOOTER:
                yield index, (f"truncated: the file ends inside the record "
                              f"({size - offset} of {_HEADER + length + _FOOTER} bytes)"), False
                return
            if masked_crc32c(payload) != struct.unpack("<I", footer)[0]:
                yield index, f"checksum mismatch at offset {offset} (corrupted bytes)", True
            else:
                yield index, payload, True
            offset += _HEADER + length + _FOOTER
            index += 1


def iter_tfrecord_payloads(
    path: str | os.PathLike, batch_records: int = 64
) -> Iterator[tuple[int, bytes | str]]:
    """(record index, payload) for each record; (index, reason) for a bad one.

    Reading goes on past a record whose payload is corrupt, and stops at a truncated end
    or a corrupt length, after reporting it.

    Args:
        path: the .tfrec file.
        batch_records: records fetched per TensorFlow call. Default 64.
    """
    import tensorflow as tf

    path = Path(path)
    size = path.stat().st_size
    offset = index = 0
    # Batches of records: one eager call per record costs ~1 ms, more than the reading.
    batches = iter(tf.data.TFRecordDataset(str(path)).batch(batch_records))
    while True:
        try:
            payloads = next(batches).numpy()
        except StopIteration:
            break
        except tf.errors.OpError:
            # A bad frame somewhere in this batch: the Python reader takes over from the
            # batch's start, and its verdict (checked frame by frame) is the one reported.
            for i, item, resumable in _frames_python(path, offset, index, size):
                yield i, item
                if isinstance(item, str) and not resumable:
                    return
            return
        for payload in payloads:
            yield index, payload
            offset += _HEADER + len(payload) + _FOOTER
            index += 1
    if offset < size:
        # TensorFlow stops quietly at a partial header at the end of a file.
        for i, item, _ in _frames_python(path, offset, index, size):
            yield i, item


def parse_record(payload: bytes, path: str, index: int) -> EncodedImage | BadEntry:
    """A Kaggle record as an EncodedImage, or a BadEntry saying what is missing."""
    from google.protobuf.message import DecodeError
    from tensorflow.core.example.example_pb2 import Example

    where = Location(path, record=index)
    try:
        features = Example.FromString(payload).features.feature
    except DecodeError as e:
        return BadEntry(where, f"not a tf.train.Example ({e})")
    if "image" not in features:
        have = ", ".join(sorted(features)) or "no features"
        return BadEntry(where, f"no 'image' feature (has: {have})")
    values = features["image"].bytes_list.value
    if len(values) != 1:
        return BadEntry(where, f"'image' must hold one bytes value, holds {len(values)}")
    names = features["image_name"].bytes_list.value if "image_name" in features else []
    name = names[0].decode("utf-8", "replace") if len(names) == 1 else f"{Path(path).stem}_{index}"
    return EncodedImage(name=name, data=values[0], origin=where.origin)


def serialize_bytes_features(features: dict[str, bytes]) -> bytes:
    """A serialized `tf.train.Example` of one bytes value per feature."""
    from tensorflow.core.example import example_pb2, feature_pb2

    return example_pb2.Example(features=feature_pb2.Features(feature={
        key: feature_pb2.Feature(bytes_list=feature_pb2.BytesList(value=[value]))
        for key, value in features.items()
    })).SerializeToString()


def serialize_record(name: str, image: bytes, target: str) -> bytes:
    """A record in Kaggle's format: bytes features image_name, image, target."""
    return serialize_bytes_features({"image_name": name.encode("utf-8"), "image": image,
                                     "target": target.encode("utf-8")})


def tfrecord_name(prefix: str, index: int, count: int) -> str:
    """Kaggle's file name: `{prefix}{index:02d}-{count}.tfrec`, e.g. `photo00-352.tfrec`."""
    return f"{prefix}{index:02d}-{count}.tfrec"
