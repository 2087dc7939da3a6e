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

Without TensorFlow (Keras on JAX) the Python reader reads every frame, its checksums taken
by `google-crc32c`'s C extension (a pure-Python CRC32C at a few MB/s is the fallback when
that package is missing), and a record is parsed with `protobuf` message classes built
from the same definitions as TensorFlow's `tf.train.Example` (`example_class`): the same
wire format, the same errors, with or without TensorFlow.
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


def _example_files():
    """FileDescriptorProtos of tensorflow/core/example/{feature,example}.proto: the same
    package, message names, field numbers and types, so the wire format is TensorFlow's."""
    from google.protobuf import descriptor_pb2

    field = descriptor_pb2.FieldDescriptorProto
    repeated = field.LABEL_REPEATED

    def add_fields(message, fields):
        """fields: (name, type, message type or None, label, oneof index or None)."""
        for number, (name, kind, type_name, label, oneof) in enumerate(fields, 1):
            proto = message.field.add(name=name, number=number, type=kind,
                                      label=label or field.LABEL_OPTIONAL)
            if type_name:
                proto.type_name = f".tensorflow.{type_name}"
            if oneof is not None:
                proto.oneof_index = oneof

    def add_map(message, name, entry, value_type):
        """A proto3 `map<string, value_type> name = 1;`."""
        nested = message.nested_type.add(name=entry)
        nested.options.map_entry = True
        add_fields(nested, [("key", field.TYPE_STRING, None, None, None),
                            ("value", field.TYPE_MESSAGE, value_type, None, None)])
        add_fields(message, [(name, field.TYPE_MESSAGE, f"{message.name}.{entry}", repeated,
                              None)])

    feature = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/feature.proto", package="tensorflow", syntax="proto3")
    for name, kind in (("BytesList", field.TYPE_BYTES), ("FloatList", field.TYPE_FLOAT),
                       ("Int64List", field.TYPE_INT64)):
        add_fields(feature.message_type.add(name=name), [("value", kind, None, repeated, None)])
    one = feature.message_type.add(name="Feature")
    one.oneof_decl.add(name="kind")
    add_fields(one, [(name, field.TYPE_MESSAGE, kind, None, 0) for name, kind in (
        ("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List"))])
    add_map(feature.message_type.add(name="Features"), "feature", "FeatureEntry", "Feature")
    add_fields(feature.message_type.add(name="FeatureList"),
               [("feature", field.TYPE_MESSAGE, "Feature", repeated, None)])
    add_map(feature.message_type.add(name="FeatureLists"), "feature_list", "FeatureListEntry",
            "FeatureList")

    example = descriptor_pb2.FileDescriptorProto(
        name="tensorflow/core/example/example.proto", package="tensorflow", syntax="proto3",
        dependency=[feature.name])
    add_fields(example.message_type.add(name="Example"),
               [("features", field.TYPE_MESSAGE, "Features", None, None)])
    add_fields(example.message_type.add(name="SequenceExample"),
               [("context", field.TYPE_MESSAGE, "Features", None, None),
                ("feature_lists", field.TYPE_MESSAGE, "FeatureLists", None, None)])
    return feature, example


@functools.cache
def example_class():
    """The `tf.train.Example` message class, built with `protobuf` alone (no TensorFlow).

    Its definitions live in a private descriptor pool, so they never clash with
    TensorFlow's own when both are imported.
    """
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.DescriptorPool()
    for file in _example_files():
        pool.Add(file)
    descriptor = pool.FindMessageTypeByName("tensorflow.Example")
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is None:  # protobuf < 4.22
        return message_factory.MessageFactory(pool).GetPrototype(descriptor)
    return get_class(descriptor)


@functools.cache
def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def _crc32c_python(data: bytes) -> int:
    """CRC-32C in pure Python: a few MB/s."""
    table = _crc32c_table()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@functools.cache
def _crc32c_function():
    try:
        import google_crc32c
    except ImportError:
        return _crc32c_python
    # Its own fallback, without the C extension, is pure Python too.
    return google_crc32c.value if google_crc32c.implementation == "c" else _crc32c_python


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord frames use it: `google-crc32c`'s C extension
    (GB/s) where it is installed, else pure Python (a few MB/s)."""
    return _crc32c_function()(data)


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
    or a corrupt length, after reporting it. With TensorFlow, `tf.data` reads the frames
    (and the Python reader only a damaged file's rest); without it, the Python reader.

    Args:
        path: the .tfrec file.
        batch_records: records fetched per TensorFlow call. Default 64.
    """
    from painter.backend import has_tensorflow

    path = Path(path)
    size = path.stat().st_size
    if not has_tensorflow():
        for index, item, _ in _frames_python(path, 0, 0, size):
            yield index, item
        return
    import tensorflow as tf

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

    where = Location(path, record=index)
    try:
        features = example_class().FromString(payload).features.feature
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
    example = example_class()()
    for key, value in features.items():
        example.features.feature[key].bytes_list.value.append(value)
    return example.SerializeToString()


def encode_frame(payload: bytes) -> bytes:
    """One TFRecord frame: length, its masked CRC32C, the payload, the payload's."""
    length = struct.pack("<Q", len(payload))
    return b"".join((length, struct.pack("<I", masked_crc32c(length)), payload,
                     struct.pack("<I", masked_crc32c(payload))))


def serialize_record(name: str, image: bytes, target: str) -> bytes:
    """A record in Kaggle's format: bytes features image_name, image, target."""
    return serialize_bytes_features({"image_name": name.encode("utf-8"), "image": image,
                                     "target": target.encode("utf-8")})


def tfrecord_name(prefix: str, index: int, count: int) -> str:
    """Kaggle's file name: `{prefix}{index:02d}-{count}.tfrec`, e.g. `photo00-352.tfrec`."""
    return f"{prefix}{index:02d}-{count}.tfrec"
