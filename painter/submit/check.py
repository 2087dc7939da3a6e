"""What Kaggle checks in an `images.zip` before scoring it, checked locally.

The competition takes a zip of 7,000 to 10,000 images, each a 256×256×3 RGB JPEG. This
checker is stricter where being strict costs nothing: every entry must be a `.jpg`/`.jpeg`
file at the top level of the zip (no folder entries, no files inside folders), names must be
unique, and every image is decoded through its last byte (a truncated JPEG is caught, not
just a bad header; the pixels are reconstructed at 1/8 scale, which is 4× faster).
Every problem is listed, not only the first.
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from pathlib import Path

from PIL import Image

from painter.errors import UsageError

MIN_IMAGES = 7_000
MAX_IMAGES = 10_000
IMAGE_SHAPE = (256, 256, 3)
_JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of `check_submission`.

    Attributes:
        path: the zip checked.
        count: file entries (images or not) in the zip; folder entries are not counted.
        problems: one line per problem, each naming the entry when there is one.
    """

    path: str
    count: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"path": self.path, "ok": self.ok, "count": self.count, "problems": list(self.problems)}


def _image_problem(data: bytes) -> str | None:
    """Why `data` is not a 256×256×3 JPEG, or None when it is."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format
            mode, (width, height) = image.mode, image.size
            if image_format == "JPEG":
                # Decode every byte (a truncated JPEG fails in load, not at open) but at
                # 1/8 scale: the entropy decoding is all done, the inverse DCT 8× cheaper.
                image.draft(mode, (max(width // 8, 1), max(height // 8, 1)))
            image.load()
    except Exception as e:  # Pillow raises many types for undecodable bytes
        return f"not a readable image ({type(e).__name__}: {e})"
    if image_format != "JPEG":
        return f"a {image_format} image, not a JPEG"
    channels = len(mode)  # "RGB" → 3, "L" → 1, "CMYK" → 4
    shape = (height, width, channels)
    if mode != "RGB" or shape != IMAGE_SHAPE:
        return f"decodes to {height}×{width}×{channels} ({mode}), not 256×256×3 RGB"
    return None


def check_submission(
    path: str | os.PathLike, *, min_images: int = MIN_IMAGES, max_images: int = MAX_IMAGES
) -> CheckResult:
    """Checks an `images.zip` the way Kaggle does (and a little more strictly).

    Args:
        path: the zip.
        min_images: fewest images allowed. Default 7,000.
        max_images: most images allowed. Default 10,000.

    Returns:
        A CheckResult; `result.ok` is True when there are no problems.

    Raises:
        UsageError: `path` does not exist or is a folder.
    """
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder; Kaggle takes a zip of images")
    if not zipfile.is_zipfile(path):
        return CheckResult(str(path), 0, ("not a zip file",))

    problems: list[str] = []
    seen: set[str] = set()
    count = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename
                if info.is_dir():
                    problems.append(f"{name}: a folder entry; images must be at the top level")
                    continue
                count += 1
                if name in seen:
                    problems.append(f"{name}: duplicate name")
                seen.add(name)
                if "/" in name:
                    problems.append(f"{name}: inside a folder; images must be at the top level")
                if not name.lower().endswith(_JPEG_SUFFIXES):
                    problems.append(f"{name}: name does not end in .jpg or .jpeg")
                try:
                    data = archive.read(info)
                except (zipfile.BadZipFile, OSError, EOFError) as e:
                    problems.append(f"{name}: unreadable entry ({e})")
                    continue
                problem = _image_problem(data)
                if problem:
                    problems.append(f"{name}: {problem}")
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        problems.append(f"unreadable zip ({e})")
    if not min_images <= count <= max_images:
        problems.insert(
            0, f"{count:,} images; Kaggle takes {min_images:,} to {max_images:,}"
        )
    return CheckResult(str(path), count, tuple(problems))
