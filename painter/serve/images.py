"""Uploads in, paintings out: the checks an upload passes, and how an image of any size
and aspect becomes the model's square 256-px inputs and back.

Everything happens in memory: an upload is bytes, never a file. The checks run on the
image's header before its pixels are decoded, so a decompression bomb (a small file that
decodes to billions of pixels) is refused without being decoded.

How an image meets the square model (`FITS`):

    stretch   the whole image resized to 256×256 (its aspect is lost)
    pad       resized so its long side is 256, then mirrored out to a square; the
              painting is cropped back to the image's aspect
    tile      painted in 256-px tiles at up to `TILE_LIMIT` px on the long side, then
              stitched: more detail, the aspect kept

and what comes back (`SIZES`): "model", the painting as the model made it (256×256 for
stretch, 256 on the long side for pad, the tiled size for tile), or "original", resized
to the upload's width and height.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

from painter.data.images import decode_rgb, encode_jpeg
from painter.errors import DataError
from painter.submit.zipwriter import SUBMISSION_SIZE

FITS = ("stretch", "pad", "tile")
SIZES = ("model", "original")
MAX_BYTES = 20 * 2**20
MAX_SIDE = 8000
TILE_LIMIT = 4 * SUBMISSION_SIZE  # at most 4×4 tiles: 16 model inputs per upload
JPEG_QUALITY = 95

# EXIF orientation → the transposition that shows the image upright (as a camera meant it).
_ORIENTATION = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


class UploadError(ValueError):
    """An upload the server refuses: `status` is the HTTP status (4xx) to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Limits:
    """What an upload may be.

    Attributes:
        max_bytes: the largest request body, in bytes. Default 20 MiB.
        max_side: the most pixels on either side. Default 8,000.
        max_pixels: width × height above which an image counts as a decompression bomb.
            Default: Pillow's `Image.MAX_IMAGE_PIXELS` (about 89 million), read when the
            image is checked.
    """

    max_bytes: int = MAX_BYTES
    max_side: int = MAX_SIDE
    max_pixels: int | None = None


def decode_upload(data: bytes, name: str, limits: Limits = Limits()) -> np.ndarray:
    """An uploaded image as upright RGB uint8 (H, W, 3), after the checks.

    Args:
        data: the uploaded bytes.
        name: the upload's file name, named in errors.
        limits: what is allowed.

    Raises:
        UploadError: empty (400), not an image (400: also a truncated or broken one),
            over the byte limit, a side over `max_side` or a decompression bomb (413).
    """
    if not data:
        raise UploadError(f"{name}: the upload is empty")
    if len(data) > limits.max_bytes:
        raise UploadError(f"{name}: {len(data):,} bytes, over the limit of "
                          f"{limits.max_bytes:,}", 413)
    max_pixels = limits.max_pixels or Image.MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
            orientation = header.getexif().get(0x0112, 1)
    except Image.DecompressionBombError as e:
        raise UploadError(f"{name}: a decompression bomb ({e})", 413) from None
    except UnidentifiedImageError:
        raise UploadError(f"{name}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UploadError(f"{name}: not an image Pillow can read ({e})") from None
    if max_pixels and width * height > max_pixels:
        raise UploadError(f"{name}: a decompression bomb ({width}×{height} = "
                          f"{width * height:,} pixels, over {max_pixels:,})", 413)
    if max(width, height) > limits.max_side:
        raise UploadError(f"{name}: {width}×{height} px, over {limits.max_side:,} px a side", 413)
    try:
        rgb = decode_rgb(data, name)
    except DataError as e:
        raise UploadError(str(e)) from None
    except (OSError, ValueError, SyntaxError) as e:
        raise UploadError(f"{name}: not an image Pillow can read ({e})") from None
    if orientation in _ORIENTATION:
        image = Image.fromarray(rgb)
        for method in _ORIENTATION[orientation]:
            image = image.transpose(method)
        rgb = np.asarray(image)
    return rgb


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


@dataclasses.dataclass(frozen=True)
class Layout:
    """How one image was cut into model inputs, to put the paintings back together.

    Attributes:
        fit: one of `FITS`.
        size: one of `SIZES`.
        original: the upload's (width, height).
        working: (width, height) of the image as painted, before any `original` resize.
        grid: (columns, rows) of tiles (1, 1 unless tiled).
    """

    fit: str
    size: str
    original: tuple[int, int]
    working: tuple[int, int]
    grid: tuple[int, int] = (1, 1)

    @property
    def count(self) -> int:
        """Model inputs this image needs."""
        return self.grid[0] * self.grid[1]


def _mirror_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """`image` extended to height × width by mirroring its edges (over and over for a
    thin image) rather than a flat colour, which a translator would paint as a border."""
    return np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1]), (0, 0)),
                  mode="symmetric")


def to_model_inputs(image: np.ndarray, fit: str = "stretch", size: str = "model"
                    ) -> tuple[np.ndarray, Layout]:
    """(uint8 (n, 256, 256, 3) model inputs, their `Layout`) of an RGB image."""
    if fit not in FITS:
        raise UploadError(f"fit {fit!r}: not one of {', '.join(FITS)}")
    if size not in SIZES:
        raise UploadError(f"size {size!r}: not one of {', '.join(SIZES)}")
    s = SUBMISSION_SIZE
    height, width = image.shape[:2]
    if fit == "stretch":
        return _resize(image, s, s)[None], Layout(fit, size, (width, height), (s, s))
    if fit == "pad":
        scale = s / max(width, height)
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        square = _mirror_pad(_resize(image, w, h), s, s)
        return square[None], Layout(fit, size, (width, height), (w, h))
    scale = min(1.0, TILE_LIMIT / max(width, height))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    columns, rows = math.ceil(w / s), math.ceil(h / s)
    padded = _mirror_pad(_resize(image, w, h), rows * s, columns * s)
    tiles = padded.reshape(rows, s, columns, s, 3).transpose(0, 2, 1, 3, 4).reshape(-1, s, s, 3)
    return np.ascontiguousarray(tiles), Layout(fit, size, (width, height), (w, h), (columns, rows))


def from_model_outputs(paintings: np.ndarray, layout: Layout) -> np.ndarray:
    """The painting of one image from the model's outputs for its `to_model_inputs`."""
    s = SUBMISSION_SIZE
    columns, rows = layout.grid
    w, h = layout.working
    if layout.fit == "stretch":
        image = paintings[0]
    else:
        stitched = (paintings.reshape(rows, columns, s, s, 3).transpose(0, 2, 1, 3, 4)
                    .reshape(rows * s, columns * s, 3))
        image = stitched[:h, :w]
    if layout.size == "original":
        image = _resize(np.ascontiguousarray(image), *layout.original)
    return np.ascontiguousarray(image)


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """An RGB uint8 image as JPEG bytes."""
    return encode_jpeg(np.asarray(image, np.uint8), quality=quality)
