"""Encoded images: what a source yields, how an entry is checked, and how it is decoded.

Only JPEG and PNG are read (what both PIL and `tf.io.decode_image` handle the same way).
A check reads the header (format, size, mode) and makes sure the data is complete without
decoding it when it can: a complete JPEG ends with the EOI marker FFD9, which entropy-coded
data never contains, and a complete PNG ends with its IEND chunk. Only files that end some
other way (trailing padding after EOI, say) are decoded in full to tell.
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

from painter.errors import DataError

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


@dataclasses.dataclass(frozen=True)
class EncodedImage:
    """One image as stored: its name, its encoded bytes (untouched), where it came from.

    Attributes:
        name: the image's name without extension: a file's stem, a zip member's stem, or a
            TFRecord's `image_name`.
        data: the stored JPEG/PNG bytes, exactly as read.
        origin: where it was read, e.g. `/data/monet00-60.tfrec#17`, `/data/a.jpg`,
            `/data/images.zip:a.jpg`.
    """

    name: str
    data: bytes = dataclasses.field(repr=False)
    origin: str


@dataclasses.dataclass(frozen=True)
class Location:
    """Where an entry lives: a file, and inside it a TFRecord record index or zip member."""

    file: str
    record: int | None = None
    member: str | None = None

    @property
    def origin(self) -> str:
        """The compact form stored in `EncodedImage.origin`."""
        if self.record is not None:
            return f"{self.file}#{self.record}"
        if self.member is not None:
            return f"{self.file}:{self.member}"
        return self.file

    def __str__(self) -> str:
        if self.record is not None:
            return f"{self.file}: record {self.record}"
        return self.origin


@dataclasses.dataclass(frozen=True)
class BadEntry:
    """An entry that cannot be read, and why. `str()` gives the one-line message."""

    where: Location
    reason: str

    @property
    def origin(self) -> str:
        return self.where.origin

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"

    def to_dict(self) -> dict:
        return {"file": self.where.file, "record": self.where.record,
                "member": self.where.member, "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    """What the header says: format (`JPEG`/`PNG`), width, height, PIL mode."""

    format: str
    width: int
    height: int
    mode: str

    @property
    def channels(self) -> int:
        return Image.getmodebands(self.mode)

    @property
    def shape(self) -> str:
        """`HxWxC` as stored, e.g. `256x256x3`."""
        return f"{self.height}x{self.width}x{self.channels}"

    def is_rgb_jpeg(self, image_size: int) -> bool:
        """True when the bytes can be used as they are: an RGB JPEG of image_size²."""
        return (self.format == "JPEG" and self.mode == "RGB"
                and self.width == image_size and self.height == image_size)


def sniff_format(data: bytes) -> str | None:
    """`JPEG`, `PNG`, or None, from the magic bytes."""
    if data.startswith(JPEG_MAGIC):
        return "JPEG"
    if data.startswith(PNG_MAGIC):
        return "PNG"
    return None


def probe_image(data: bytes, formats: tuple[str, ...] = ("JPEG", "PNG")) -> ImageHeader:
    """Checks that `data` is a complete image of one of `formats`; returns its header.

    Raises:
        ValueError: with the reason, e.g. `not a JPEG (starts with b'GIF89a')` or
            `truncated JPEG (image file is truncated)`. Callers add the location.
    """
    kind = sniff_format(data)
    if kind not in formats:
        wanted = " or ".join(formats)
        if not data:
            raise ValueError(f"not a {wanted} image (empty)")
        raise ValueError(f"not a {wanted} image (starts with {data[:8]!r})")
    try:
        with Image.open(io.BytesIO(data)) as image:
            header = ImageHeader(kind, image.width, image.height, image.mode)
            end = _JPEG_END if kind == "JPEG" else _PNG_END
            if not data.rstrip(b"\x00").endswith(end):
                image.load()  # raises if the data stops early
    # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError… on bad data.
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"truncated or corrupt {kind} ({e})") from None
    return header


def decode_rgb(data: bytes, origin: str, image_size: int | None = None) -> np.ndarray:
    """Decodes a JPEG/PNG to an RGB uint8 array of shape (H, W, 3).

    Grayscale, palette, CMYK and alpha images are converted to RGB (alpha is dropped, as
    `tf.io.decode_image(channels=3)` does); 16-bit images are scaled to 8 bits.

    Args:
        data: the encoded bytes.
        origin: where they came from; named in the error.
        image_size: resize to image_size × image_size (PIL bilinear, antialiased) when the
            image has another size. Default None: keep the size.

    Raises:
        DataError: `data` is not a complete JPEG/PNG; the message names `origin`.
    """
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive int or None. Received: {image_size=}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            if image.mode.startswith("I;16") or image.mode == "I":
                scaled = np.asarray(image, dtype=np.float64) / 257.0
                image = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")
            rgb = image.convert("RGB")
    except Exception as e:  # noqa: BLE001  (PIL raises many types on bad data)
        raise DataError(f"{origin}: not a readable JPEG/PNG image ({e})") from None
    if image_size is not None and rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """An RGB uint8 array as JPEG bytes (4:2:0, like Kaggle's files)."""
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
