"""Streaming `images.zip` writer.

Images go straight from the model into the zip: `add` hands a uint8 array to a small pool
of encoder threads (Pillow releases the GIL while it encodes) and puts the pending result
on a bounded queue; one writer thread takes them in order and appends them to the zip.
Encoding and writing overlap inference, memory stays bounded, the entry order is the
order of `add`, and there is never a temporary folder of 7,000 files. The zip is written under a temporary name beside
the output and renamed only when `close` succeeds (`painter.io.atomic_path`), so an
interrupted run leaves no partial `images.zip` and an existing one untouched.

Entries are stored (`ZIP_STORED`), not deflated: JPEG data is already entropy-coded and
deflate would spend CPU time to save well under 1 %.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import io
import os
import queue
import sys
import threading
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from painter.io import atomic_path, check_output

SUBMISSION_SIZE = 256
# A fixed timestamp keeps the zip reproducible for the same images.
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_STOP = object()


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model outputs in [-1, 1] (float) → uint8 in [0, 255], rounded; uint8 passes through."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint((images.astype(np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def encode_jpeg(image: np.ndarray, quality: int = 95) -> bytes:
    """JPEG bytes of one uint8 H×W×3 RGB image (Pillow, default 4:2:0 chroma subsampling)."""
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class ImageZipWriter:
    """Writes 256×256×3 RGB images as uniquely named JPEGs into a zip, on a background thread.

    Use it as a context manager; leaving the block normally renames the finished zip onto
    `path`, leaving it through an exception (or Ctrl-C) deletes the partial file:

        with ImageZipWriter("images.zip", force=False) as writer:
            for names, batch in batches:
                writer.add_batch(names, model_outputs_as_uint8)
            writer.flush()          # optional: wait until everything queued is written
            print(writer.written)

    An image whose JPEG bytes equal those of an image already written is not written
    again (Kaggle's set must not hold byte-identical duplicates); it is counted in
    `skipped_duplicates`, so a caller that needs an exact count can add more.

    Args:
        path: the zip to write.
        quality: JPEG quality, 1–95. Default 95.
        force: replace an existing `path`. Default False: an existing path is a UsageError,
            raised here, before any work.
        image_size: the side every image must have. Default 256 (Kaggle's size).
        queue_size: images waiting to be written at most; `add` blocks beyond it, which
            bounds memory. Default 256.
        workers: JPEG encoder threads. Default: 2, or 1 on a single-core machine.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        quality: int = 95,
        force: bool = False,
        image_size: int = SUBMISSION_SIZE,
        queue_size: int = 256,
        workers: int | None = None,
    ):
        if not 1 <= quality <= 95:
            raise ValueError(f"quality must be in [1, 95]. Received: quality={quality}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be ≥ 1. Received: queue_size={queue_size}")
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        if workers < 1:
            raise ValueError(f"workers must be ≥ 1. Received: workers={workers}")
        self.workers = workers
        self.path = check_output(path, force)
        self.quality = quality
        self.force = force
        self.image_size = image_size
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._names: set[str] = set()
        self._digests: set[bytes] = set()
        self._error: BaseException | None = None
        self._stack: contextlib.ExitStack | None = None
        self._zip: zipfile.ZipFile | None = None
        self._thread: threading.Thread | None = None
        self._encoders: concurrent.futures.ThreadPoolExecutor | None = None
        self.written = 0
        self.bytes_written = 0
        self.skipped_duplicates: list[str] = []

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> "ImageZipWriter":
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path, self.force))
        # mkstemp makes the file private (0600); the zip is an ordinary file (0644).
        # (Reading the umask would mean setting it, which races other threads.)
        os.chmod(tmp, 0o644)
        self._zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
        self._encoders = concurrent.futures.ThreadPoolExecutor(self.workers, "images-zip-encoder")
        self._thread = threading.Thread(target=self._work, name="images-zip-writer", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack = self._stack
        if exc is not None:
            with contextlib.suppress(Exception):  # the original error is the one to report
                self._stop(drain=False)
            return bool(stack.__exit__(exc_type, exc, tb))
        try:
            self._stop(drain=True)
        except BaseException:
            if not stack.__exit__(*sys.exc_info()):  # removes the partial zip
                raise
            return False
        return bool(stack.__exit__(None, None, None))

    def _stop(self, drain: bool) -> None:
        if not drain:  # throw away what waits, so the thread sees the stop at once
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
                    self._queue.task_done()
        self._queue.put(_STOP)
        self._thread.join()
        self._encoders.shutdown(wait=True, cancel_futures=True)
        self._zip.close()
        if drain:
            self._raise_worker_error()

    # -- adding images ----------------------------------------------------------------

    def add(self, name: str, image: np.ndarray) -> None:
        """Queues one image (uint8 H×W×3, or float in [-1, 1]) under a unique `name`."""
        self._raise_worker_error()
        if self._thread is None:
            raise RuntimeError("ImageZipWriter.add called outside its `with` block")
        if not name or name.endswith("/") or name.startswith("/"):
            raise ValueError(f"name must be a plain file name. Received: name={name!r}")
        if name in self._names:
            raise ValueError(f"name is already in the zip. Received: name={name!r}")
        image = to_uint8(image)
        want = (self.image_size, self.image_size, 3)
        if image.shape != want:
            raise ValueError(f"image must have shape {want}. Received: shape={image.shape}")
        self._names.add(name)
        pending = self._encoders.submit(encode_jpeg, np.ascontiguousarray(image), self.quality)
        # put() with a timeout so a dead worker cannot block the producer forever.
        while True:
            try:
                self._queue.put((name, pending), timeout=0.5)
                return
            except queue.Full:
                self._raise_worker_error()

    def add_batch(self, names: Sequence[str], images: Iterable[np.ndarray]) -> None:
        """Queues a batch: `names[i]` for `images[i]`."""
        images = list(images) if not isinstance(images, np.ndarray) else images
        if len(names) != len(images):
            raise ValueError(
                f"names and images must have the same length. "
                f"Received: len(names)={len(names)}, len(images)={len(images)}"
            )
        for name, image in zip(names, images):
            self.add(name, image)

    def flush(self) -> None:
        """Waits until every queued image is written (or the writer failed)."""
        self._queue.join()
        self._raise_worker_error()

    # -- the background thread ----------------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                if self._error is not None:
                    continue  # drain after a failure
                name, pending = item
                data = pending.result()
                digest = hashlib.sha1(data).digest()
                if digest in self._digests:
                    self.skipped_duplicates.append(name)
                    continue
                self._digests.add(digest)
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.external_attr = 0o644 << 16
                self._zip.writestr(info, data)
                self.written += 1
                self.bytes_written += len(data)
            except BaseException as e:  # reported to the producer by _raise_worker_error
                self._error = e
            finally:
                self._queue.task_done()

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise self._error


def written_names(path: str | os.PathLike) -> list[str]:
    """The entry names of a zip, in order (a helper for callers and tests)."""
    with zipfile.ZipFile(Path(path)) as archive:
        return archive.namelist()
