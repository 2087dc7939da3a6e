"""`painter serve`: the model, its worker and the app behind waitress, a production WSGI
server (pure Python, no C build, on Linux, macOS and Windows alike).

Waitress reads each request body before the app sees it; it keeps bodies up to
`inbuf_overflow` bytes in memory and spools bigger ones to a temporary file, so that
threshold is set above the largest body it accepts: an upload never touches the disk.
"""

from __future__ import annotations

import errno
import ipaddress
import os
from typing import Callable

import numpy as np

from painter.errors import UsageError
from painter.serve.images import Limits
from painter.serve.model import load_served_model
from painter.serve.worker import ModelWorker
from painter.submit.zipwriter import SUBMISSION_SIZE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_QUEUE = 16
DEFAULT_BATCH = 16


def make_server(app, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                limits: Limits = Limits(), threads: int = DEFAULT_QUEUE + 8):
    """A waitress server for `app` on host:port (port 0: any free port; see
    `server.effective_port`), keeping request bodies in memory.

    Args:
        app: the WSGI app (`create_app`).
        host, port: where to listen.
        limits: the upload limits; bodies over twice `max_bytes` are refused by waitress
            itself, before the app (which refuses anything over `max_bytes` with JSON).
        threads: request threads; more than the worker's queue, so a full queue answers
            503 rather than requests waiting for a thread.

    Raises:
        UsageError: the port is taken or the host is not this machine's.
    """
    from waitress import create_server

    body = 2 * limits.max_bytes
    try:
        return create_server(app, host=host, port=port, threads=threads,
                             max_request_body_size=body, inbuf_overflow=body + 1,
                             outbuf_overflow=64 * 2**20, ident="painter")
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UsageError(f"--port {port}: already in use on {host}") from None
        raise UsageError(f"--host {host} --port {port}: cannot listen ({e.strerror or e})") from None


def warm_up(worker: ModelWorker, served) -> None:
    """One image through each painter, so the first request does not pay for tracing."""
    for route in served.painters:
        inputs = (served.latents(0) if route == "sample"
                  else np.zeros((1, SUBMISSION_SIZE, SUBMISSION_SIZE, 3), np.uint8))
        worker.submit(route, inputs)


def serve(model: str | os.PathLike, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          checkpoint: str | None = None, strength: float = 0.5, queue: int = DEFAULT_QUEUE,
          batch: int = DEFAULT_BATCH, limits: Limits = Limits(),
          log: Callable[[str], None] = print) -> None:
    """Serves `model` (a run directory or "stylizer"/"teacher") until Ctrl-C or SIGTERM.

    Args:
        model: what paints (`load_served_model`).
        host: the interface to listen on. Default 127.0.0.1: this machine only.
        port: the port. Default 8000.
        checkpoint: a run's "best", "last" or a path. Default: best if kept, else last.
        strength: the stylizer's. Default 0.5.
        queue: requests that may wait for the model; one more gets 503. Default 16.
        batch: the most images in one model call. Default 16.
        limits: what an upload may be.
        log: where messages go.
    """
    from painter.serve.app import create_app
    from painter.submit.generate import sigterm_as_interrupt

    if queue < 1 or batch < 1:
        raise UsageError(f"--queue {queue}, --batch {batch}: both must be at least 1")
    served = load_served_model(model, checkpoint, strength=strength, log=log)
    worker = ModelWorker(served.painters, capacity=queue, max_batch=batch).start()
    try:
        warm_up(worker, served)
        app = create_app(served, worker, limits)
        server = make_server(app, host, port, limits=limits, threads=queue + 8)
        try:
            shown = f"[{host}]" if ":" in host else host
            log(f"serving {served.name} ({served.family}) on "
                f"http://{shown}:{server.effective_port}/  (Ctrl-C stops)")
            if not _is_loopback(host):
                log(f"warning: listening on {host}: anyone who can reach this machine can use it")
            # waitress's run() catches the KeyboardInterrupt of Ctrl-C (or of SIGTERM, made
            # one here), stops its request threads and returns.
            with sigterm_as_interrupt():
                server.run()
        except KeyboardInterrupt:
            pass  # an interrupt that came between two of waitress's own checks
        finally:
            server.close()
    finally:
        worker.stop()
    log("stopped")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
