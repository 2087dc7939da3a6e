"""The model worker: one thread owns the model and paints batches of waiting requests.

Request threads (the web server's) `submit` their model inputs and wait; the worker takes
the oldest waiting job and every other waiting job for the same painter (a direction, or
the latent sampler) up to `max_batch` images, runs them as one model call, and hands each
job its share. While a batch runs, new requests wait in the queue and form the next one,
so under load the batches grow by themselves, with no timer that delays a lone request.

The queue is bounded: when `capacity` jobs are waiting, `submit` raises `QueueFull` at
once, with a Retry-After estimate, and the server answers 503 instead of letting
requests pile up (or hang).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import threading
import time
from typing import Callable

import numpy as np

Painter = Callable[[np.ndarray], np.ndarray]


class QueueFull(RuntimeError):
    """The worker's queue holds `capacity` jobs; try again in `retry_after` seconds."""

    def __init__(self, capacity: int, retry_after: int):
        super().__init__(f"the model is busy: {capacity} requests are waiting; "
                         f"try again in {retry_after} s")
        self.retry_after = retry_after


class WorkerStopped(RuntimeError):
    """The worker stopped (the server is shutting down) before painting a job."""


@dataclasses.dataclass(eq=False)
class _Job:
    route: str
    inputs: np.ndarray
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None
    batch: int = 0  # images in the model call that painted it
    abandoned: bool = False  # its request gave up waiting


@dataclasses.dataclass(frozen=True)
class WorkerStats:
    """What the worker has done since it started.

    Attributes:
        batches: {images in a model call: how many calls had that many}.
        images: images painted.
        jobs: jobs (requests) painted.
        model_seconds: time inside model calls.
        waiting: jobs in the queue now.
        capacity: the queue's bound.
        max_batch: the most images in one model call.
    """

    batches: dict[int, int]
    images: int
    jobs: int
    model_seconds: float
    waiting: int
    capacity: int
    max_batch: int

    def to_json(self) -> dict:
        return {"batches": {str(k): v for k, v in sorted(self.batches.items())},
                "images": self.images, "jobs": self.jobs,
                "model_seconds": round(self.model_seconds, 3), "waiting": self.waiting,
                "capacity": self.capacity, "max_batch": self.max_batch}


class ModelWorker:
    """A thread that runs `painters` (route → batched uint8 function) on batched jobs.

    Args:
        painters: {route: function from a stacked batch of inputs to a stacked batch of
            uint8 images}; only the worker thread calls them.
        capacity: jobs that may wait; one more is refused with `QueueFull`. Default 16.
        max_batch: the most images in one model call; a job with more is run in chunks of
            this size. Default 16.
    """

    def __init__(self, painters: dict[str, Painter], *, capacity: int = 16, max_batch: int = 16):
        if capacity < 1 or max_batch < 1:
            raise ValueError(f"capacity and max_batch must be ≥ 1. Received: "
                             f"{capacity=}, {max_batch=}")
        self.painters = dict(painters)
        self.capacity = capacity
        self.max_batch = max_batch
        self._jobs: collections.deque[_Job] = collections.deque()
        self._lock = threading.Condition()
        self._stopping = False
        self._batches: collections.Counter[int] = collections.Counter()
        self._images = self._jobs_done = 0
        self._model_seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="painter-model", daemon=True)

    # ---- request threads -------------------------------------------------------------

    def start(self) -> "ModelWorker":
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stops after the batch in progress; waiting jobs get `WorkerStopped`."""
        with self._lock:
            self._stopping = True
            left, self._jobs = list(self._jobs), collections.deque()
            self._lock.notify_all()
        for job in left:
            job.error = WorkerStopped("the server is stopping")
            job.done.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, route: str, inputs: np.ndarray, timeout: float = 300.0
               ) -> tuple[np.ndarray, int]:
        """Paints `inputs` (a stacked batch for painter `route`); returns (outputs, images
        in the model call that painted them).

        Raises:
            KeyError: no painter `route`.
            QueueFull: `capacity` jobs are waiting (at once; nothing is queued).
            TimeoutError: not painted within `timeout` seconds (the job is dropped).
            WorkerStopped: the worker stopped first.
        """
        if route not in self.painters:
            raise KeyError(route)
        job = _Job(route, inputs)
        with self._lock:
            if self._stopping or not self._thread.is_alive():
                raise WorkerStopped("the model worker is not running")
            if len(self._jobs) >= self.capacity:
                raise QueueFull(self.capacity, self._retry_after())
            self._jobs.append(job)
            self._lock.notify()
        if not job.done.wait(timeout):
            with self._lock:
                job.abandoned = True
                if job in self._jobs:
                    self._jobs.remove(job)
            raise TimeoutError(f"not painted within {timeout:g} s")
        if job.error is not None:
            raise job.error
        return job.result, job.batch

    def _retry_after(self) -> int:
        """Seconds until the queue has likely drained (at least 1): the waiting images
        in full batches at the mean seconds per model call so far (1 s before any)."""
        calls = sum(self._batches.values())
        per_call = self._model_seconds / calls if calls else 1.0
        images = sum(len(job.inputs) for job in self._jobs)
        return max(1, math.ceil((images / self.max_batch + 1) * per_call))

    def stats(self) -> WorkerStats:
        with self._lock:
            return WorkerStats(dict(self._batches), self._images, self._jobs_done,
                               self._model_seconds, len(self._jobs), self.capacity,
                               self.max_batch)

    # ---- the worker thread -----------------------------------------------------------

    def _take_batch(self) -> list[_Job] | None:
        """The oldest job and the waiting jobs of its route that fit in one model call
        (None when stopping)."""
        with self._lock:
            while not self._jobs and not self._stopping:
                self._lock.wait()
            if self._stopping:
                return None
            first = self._jobs.popleft()
            batch, images = [first], len(first.inputs)
            for job in list(self._jobs):
                if images >= self.max_batch:
                    break
                if job.route == first.route and images + len(job.inputs) <= self.max_batch:
                    self._jobs.remove(job)
                    batch.append(job)
                    images += len(job.inputs)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            painter = self.painters[batch[0].route]
            inputs = np.concatenate([job.inputs for job in batch])
            try:
                started = time.perf_counter()
                outputs = []
                for start in range(0, len(inputs), self.max_batch):
                    chunk = inputs[start : start + self.max_batch]
                    outputs.append(np.asarray(painter(chunk)))
                    with self._lock:
                        self._batches[len(chunk)] += 1
                outputs = np.concatenate(outputs)
                with self._lock:
                    self._model_seconds += time.perf_counter() - started
                    self._images += len(inputs)
                    self._jobs_done += len(batch)
            except BaseException as e:  # noqa: BLE001 - handed to the request, not lost
                for job in batch:
                    job.error = e
                    job.done.set()
                continue
            offset = 0
            for job in batch:
                job.result = outputs[offset : offset + len(job.inputs)]
                job.batch = min(len(inputs), self.max_batch)
                offset += len(job.inputs)
                job.done.set()
