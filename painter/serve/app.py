"""The web application of `painter serve` (Flask): one page and a small JSON/JPEG API.

    GET  /             the page (static/index.html, app.js, style.css; no external fetch)
    POST /api/paint    multipart `image` (+ `direction`, `fit`, `size`) → image/jpeg;
                       for a latent model, `seed` → image/jpeg
    GET  /api/model    what is served (name, family, checkpoint, MiFID, directions, limits)
    GET  /healthz      {"ok": …, "worker": the model worker's counts}

Every error is a 4xx/5xx with one line of JSON, {"error": "…"}: a bad upload (`UploadError`),
a wrong method or path (Werkzeug's), a full queue (503 with Retry-After). Uploads stay in
memory: the request class gives Werkzeug's multipart parser a BytesIO where it would
spool a large file to a temporary file.
"""

from __future__ import annotations

import html
import io
import json
from importlib import resources
from pathlib import PurePath

import numpy as np
from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

from painter.serve.images import (
    FITS,
    SIZES,
    Limits,
    UploadError,
    decode_upload,
    from_model_outputs,
    jpeg,
    to_model_inputs,
)
from painter.serve.model import FORWARD, SAMPLE, ServedModel
from painter.serve.worker import ModelWorker, QueueFull, WorkerStopped

# The page loads its script and style from this server and nothing else; paintings are
# shown from blob: URLs the script makes of the API's answers.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
MULTIPART_SLACK = 64 * 1024  # the form's boundaries and other fields beside the image
MAX_SEED = 2**63 - 1


class _InMemoryRequest(Request):
    """A request whose uploaded files are parsed into memory, never a temporary file."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return io.BytesIO()


def _error(message: str, status: int, headers: dict | None = None) -> Response:
    body = json.dumps({"error": " ".join(str(message).split())}) + "\n"
    return Response(body, status=status, headers=headers, mimetype="application/json")


def _page(served: ServedModel, limits: Limits) -> str:
    template = resources.files("painter.serve").joinpath("static/index.html").read_text()
    mifid = "not tracked" if served.mifid is None else f"{served.mifid:.2f}"
    values = {
        "name": served.name,
        "family": served.family,
        "checkpoint": served.checkpoint or "pretrained",
        "mifid": mifid,
        "detail": served.detail,
        "max_mb": f"{limits.max_bytes / 2**20:g}",
        "max_side": f"{limits.max_side:,}",
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", html.escape(value))
    return template


def create_app(served: ServedModel, worker: ModelWorker, limits: Limits = Limits(), *,
               timeout: float = 300.0) -> Flask:
    """The Flask app serving `served` through `worker` (already started).

    Args:
        served: the model and what the page says of it.
        worker: the model worker that runs `served.painters`.
        limits: what an upload may be.
        timeout: seconds a request waits for its painting before a 503. Default 300.
    """
    app = Flask("painter.serve", static_folder="static", static_url_path="/static")
    app.request_class = _InMemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = limits.max_bytes + MULTIPART_SLACK
    app.json.sort_keys = False
    page = _page(served, limits)
    routes = {d.route for d in served.directions}

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        response = e.get_response()
        message = f"{e.name}: {e.description}"
        if e.code == 405 and getattr(e, "valid_methods", None):
            allowed = [m for m in e.valid_methods if m not in ("HEAD", "OPTIONS")]
            message = f"{request.method} {request.path}: not allowed (use {', '.join(allowed)})"
        elif e.code == 413:
            message = (f"the request is over the limit of {limits.max_bytes:,} bytes "
                       f"({limits.max_bytes / 2**20:g} MiB) an upload may have")
        elif e.code == 404:
            message = f"{request.path}: no such page"
        allow = {"Allow": response.headers["Allow"]} if "Allow" in response.headers else None
        return _error(message, e.code or 500, allow)

    @app.errorhandler(UploadError)
    def upload_error(e: UploadError):
        return _error(str(e), e.status)

    @app.errorhandler(QueueFull)
    def queue_full(e: QueueFull):
        return _error(str(e), 503, {"Retry-After": str(e.retry_after)})

    @app.errorhandler(WorkerStopped)
    def stopped(e: WorkerStopped):
        return _error(str(e), 503, {"Retry-After": "5"})

    @app.get("/")
    def index():
        return Response(page, mimetype="text/html")

    @app.get("/api/model")
    def model_info():
        return {**served.to_json(), "fits": list(FITS), "sizes": list(SIZES),
                "limits": {"max_bytes": limits.max_bytes, "max_side": limits.max_side}}

    @app.get("/healthz")
    def healthz():
        return {"ok": worker.alive, "worker": worker.stats().to_json()}, 200 if worker.alive else 503

    @app.post("/api/paint")
    def paint():
        if served.takes_photos:
            painting, filename, batch = _paint_upload()
        else:
            painting, filename, batch = _paint_seed()
        body = jpeg(painting)
        return Response(body, mimetype="image/jpeg", headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "X-Painter-Batch": str(batch),
        })

    @app.errorhandler(TimeoutError)
    def too_slow(e: TimeoutError):
        return _error(f"the model is busy: {e}", 503, {"Retry-After": "5"})

    def _submit(route: str, inputs: np.ndarray):
        return worker.submit(route, inputs, timeout=timeout)

    def _paint_upload():
        upload = request.files.get("image")
        if upload is None:
            raise UploadError("no image: send the photo as the multipart field 'image'")
        name = PurePath(upload.filename or "upload").name
        image = decode_upload(upload.read(limits.max_bytes + 1), name, limits)
        route = request.form.get("direction", FORWARD)
        if route not in routes:
            raise UploadError(f"direction {route!r}: this model paints "
                              f"{', '.join(sorted(routes))}")
        inputs, layout = to_model_inputs(image, request.form.get("fit", "stretch"),
                                         request.form.get("size", "model"))
        outputs, batch = _submit(route, inputs)
        stem = secure_filename(PurePath(name).stem) or "upload"
        return from_model_outputs(outputs, layout), f"{stem}_painted.jpg", batch

    def _paint_seed():
        if "image" in request.files:
            raise UploadError(f"{served.name} samples latents and paints no photo: "
                              "send a seed instead")
        text = request.form.get("seed", request.args.get("seed", "0")).strip()
        try:
            seed = int(text)
        except ValueError:
            raise UploadError(f"seed {text!r}: not a whole number") from None
        if not 0 <= seed <= MAX_SEED:
            raise UploadError(f"seed {seed}: must be in [0, 2^63 − 1]")
        outputs, batch = _submit(SAMPLE, served.latents(seed))
        return outputs[0], f"seed_{seed}.jpg", batch

    return app
