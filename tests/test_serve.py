"""`painter serve`: the API through Flask's test client, the model worker's batching and
its bounded queue, the image layouts, a latent model's seeds, and the command's errors.

The model is the session's tiny trained CycleGAN (`tiny_run`); the queue tests gate its
painter so that requests are known to wait while a batch runs."""

from __future__ import annotations

import io
import json
import struct
import threading
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLE
from painter.serve.images import Limits, from_model_outputs, to_model_inputs
from painter.serve.model import FORWARD, REVERSE, ServedModel
from painter.serve.worker import ModelWorker, QueueFull

PHOTOS = sorted((SAMPLE / "photo_jpg").glob("*.jpg"))


def _jpeg_bytes(path=PHOTOS[0]) -> bytes:
    return path.read_bytes()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header says width × height over a few bytes of data: what a
    decompression bomb looks like before it is decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


def _post(client, data: bytes | None = None, name: str = "photo.jpg", **fields):
    form = dict(fields)
    if data is not None:
        form["image"] = (io.BytesIO(data), name)
    return client.post("/api/paint", data=form, content_type="multipart/form-data")


def _one_line_error(response, status: int) -> str:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert text.count("\n") == 1 and text.endswith("\n"), text
    return json.loads(text)["error"]


@pytest.fixture(scope="module")
def served(tiny_run) -> ServedModel:
    from painter.serve.model import load_served_model

    return load_served_model(tiny_run, log=lambda m: None)


@pytest.fixture(scope="module")
def worker(served):
    worker = ModelWorker(served.painters, capacity=4, max_batch=8).start()
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def client(served, worker):
    from painter.serve.app import create_app

    return create_app(served, worker).test_client()


def _gated(painter):
    """`painter` that waits for `gate` while `entered` counts its calls (a batch is
    known to be running, and the requests after it to be queued)."""
    gate, calls = threading.Event(), []

    def run(batch):
        calls.append(len(batch))
        assert gate.wait(30)
        return painter(batch)

    return run, gate, calls


# ---- what is served --------------------------------------------------------------------


def test_the_model_its_page_and_health(client, tiny_run):
    model = client.get("/api/model").get_json()
    assert model["name"] == f"{tiny_run.parent.name}/{tiny_run.name}"
    assert model["family"] == "cyclegan"
    assert model["kind"] == "photos" and model["mifid"] is None
    assert model["checkpoint"].startswith("step_00000001, epoch 1")
    assert [d["route"] for d in model["directions"]] == [FORWARD, REVERSE]
    assert model["limits"] == {"max_bytes": 20 * 2**20, "max_side": 8000}

    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert f"<h1>{model['name']}</h1>" in html and "not tracked" in html
    assert "{{" not in html
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in html and client.get(asset).status_code == 200
    assert client.get("/healthz").get_json()["ok"] is True


def test_paints_a_photo_both_ways_at_256(client):
    photo = _jpeg_bytes()
    forward, reverse = _post(client, photo), _post(client, photo, direction=REVERSE)
    for response in (forward, reverse):
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert 'filename="photo_painted.jpg"' in response.headers["Content-Disposition"]
    a, b = _decode(forward.data), _decode(reverse.data)
    original = _decode(photo)
    assert a.shape == b.shape == (256, 256, 3)
    assert np.abs(a.astype(int) - original).mean() > 2  # painted, not the photo back
    assert np.abs(a.astype(int) - b).mean() > 2  # gen_G and gen_F differ


def test_fits_keep_the_aspect_and_sizes(client):
    wide = Image.open(PHOTOS[1]).convert("RGB").resize((600, 200))
    data = _png(wide)
    sizes = {(fit, size): _decode(_post(client, data, "wide.png", fit=fit, size=size).data).shape
             for fit in ("stretch", "pad", "tile") for size in ("model", "original")}
    assert sizes == {
        ("stretch", "model"): (256, 256, 3), ("stretch", "original"): (200, 600, 3),
        ("pad", "model"): (85, 256, 3), ("pad", "original"): (200, 600, 3),
        ("tile", "model"): (200, 600, 3), ("tile", "original"): (200, 600, 3),
    }


@pytest.mark.parametrize("fit,shape,inputs", [
    ("stretch", (300, 500), 1), ("pad", (300, 500), 1), ("tile", (300, 500), 2 * 2),
    ("tile", (3000, 1000), 4 * 2), ("pad", (1, 700), 1),
])
def test_layouts_put_the_tiles_back_where_they_came_from(fit, shape, inputs):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    model_inputs, layout = to_model_inputs(image, fit, "original")
    assert model_inputs.shape == (inputs, 256, 256, 3) and model_inputs.dtype == np.uint8
    back = from_model_outputs(model_inputs, layout)  # an identity "model"
    assert back.shape == image.shape
    if fit == "tile" and max(shape) <= 1024:
        np.testing.assert_array_equal(back, image)  # tiles of the image itself, no resize


def test_a_camera_rotated_photo_is_painted_upright():
    from painter.serve.images import decode_upload

    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown turned 90° clockwise
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buffer, format="JPEG", exif=exif)
    assert decode_upload(buffer.getvalue(), "sideways.jpg").shape == (40, 20, 3)


def test_a_request_that_waits_too_long_is_503(served):
    from painter.serve.app import create_app

    painter, gate, calls = _gated(served.painters[FORWARD])
    worker = ModelWorker({FORWARD: painter}).start()
    try:
        client = create_app(dataclass_replace(served, painters={FORWARD: painter}), worker,
                            timeout=0.2).test_client()
        response = _post(client, _jpeg_bytes())
        assert "not painted within 0.2 s" in _one_line_error(response, 503)
        assert response.headers["Retry-After"] == "5"
    finally:
        gate.set()
        worker.stop()


# ---- bad input: one line of JSON, and the next request is served ------------------------

BAD = {
    "not an image": (lambda c: _post(c, b"hello, not a photo\n", "notes.jpg"),
                     400, "not an image"),
    "truncated JPEG": (lambda c: _post(c, _jpeg_bytes()[:3000], "cut.jpg"),
                       400, "cut.jpg"),
    "empty upload": (lambda c: _post(c, b"", "empty.jpg"), 400, "empty"),
    "no image field": (lambda c: _post(c, None, fit="pad"), 400, "no image"),
    "over 8000 px a side": (lambda c: _post(c, _png(Image.new("1", (9000, 8))),
                                          "long.png"), 413, "8,000 px a side"),
    "decompression bomb": (lambda c: _post(c, _png(Image.new("1", (10000, 10000))),
                                         "bomb.png"), 413, "decompression bomb"),
    "bomb header": (lambda c: _post(c, _png_header_only(100000, 100000),
                                  "huge.png"), 413, "decompression bomb"),
    "unknown direction": (lambda c: _post(c, _jpeg_bytes(), direction="sideways"),
                          400, "sideways"),
    "unknown fit": (lambda c: _post(c, _jpeg_bytes(), fit="squash"), 400, "squash"),
    "GET on the API": (lambda c: c.get("/api/paint"), 405, "POST"),
    "PUT on the page": (lambda c: c.put("/", data=b"x"), 405, "GET"),
    "no such page": (lambda c: c.get("/api/nothing"), 404, "/api/nothing"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_requests_get_one_json_line_and_the_server_goes_on(client, case):
    request, status, says = BAD[case]
    message = _one_line_error(request(client), status)
    assert says in message, message
    good = _post(client, _jpeg_bytes())
    assert good.status_code == 200 and _decode(good.data).shape == (256, 256, 3)


def test_405_says_what_is_allowed(client):
    response = client.get("/api/paint")
    assert "POST" in response.headers["Allow"]


def test_an_upload_over_the_byte_limit_is_413(served, worker):
    from painter.serve.app import create_app

    small = create_app(served, worker, Limits(max_bytes=100_000)).test_client()
    big = _png(Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 300, 3), np.uint8)))
    assert len(big) > 100_000 + 64 * 1024  # over the request limit, not only the file's
    assert "100,000 bytes" in _one_line_error(_post(small, big, "big.png"), 413)
    middling = _png(Image.fromarray(np.random.default_rng(1).integers(0, 256, (190, 190, 3), np.uint8)))
    assert 100_000 < len(middling) < 100_000 + 64 * 1024  # within the request's slack
    assert "over the limit of 100,000" in _one_line_error(_post(small, middling, "mid.png"), 413)
    assert _post(small, _jpeg_bytes()).status_code == 200


def test_uploads_never_touch_the_disk(client, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("an upload went to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    # Werkzeug's default stream factory, which spools a large file to a temporary one.
    monkeypatch.setattr("werkzeug.formparser.SpooledTemporaryFile", refuse)
    big = _png(Image.fromarray(np.random.default_rng(2).integers(0, 256, (600, 600, 3), np.uint8)))
    assert len(big) > 1_000_000  # above Werkzeug's 500 kB in-memory threshold
    assert _post(client, big, "big.png").status_code == 200


# ---- the worker: batches and a bounded queue ----------------------------------------------


def _in_threads(count: int, call):
    results = [None] * count

    def run(i):
        results[i] = call(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    return threads, results


def _wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_waiting_requests_are_painted_in_one_batch(served):
    from painter.serve.app import create_app

    painter, gate, calls = _gated(served.painters[FORWARD])
    worker = ModelWorker({FORWARD: painter}, capacity=8, max_batch=8).start()
    try:
        app = create_app(dataclass_replace(served, painters={FORWARD: painter}), worker)
        photos = [_jpeg_bytes(p) for p in PHOTOS[:5]]
        first, first_result = _in_threads(1, lambda i: _post(app.test_client(), photos[0]))
        _wait_until(lambda: calls == [1])  # the first request's batch is running
        rest, results = _in_threads(4, lambda i: _post(app.test_client(), photos[i + 1]))
        _wait_until(lambda: worker.stats().waiting == 4)
        gate.set()
        for t in first + rest:
            t.join(30)
        assert calls == [1, 4]
        assert first_result[0].headers["X-Painter-Batch"] == "1"
        assert [r.headers["X-Painter-Batch"] for r in results] == ["4"] * 4
        images = [_decode(r.data) for r in first_result + results]
        assert all(image.shape == (256, 256, 3) for image in images)
        # Each request got its own painting back, not a neighbour's.
        for photo, image in zip(photos, images):
            alone = served.painters[FORWARD](_decode(photo)[None])[0]
            assert np.abs(alone.astype(int) - _decode(_jpeg(image))).mean() < 3
        assert worker.stats().batches == {1: 1, 4: 1}
    finally:
        gate.set()
        worker.stop()


def test_a_full_queue_answers_503_with_retry_after_then_recovers(served):
    from painter.serve.app import create_app

    painter, gate, calls = _gated(served.painters[FORWARD])
    worker = ModelWorker({FORWARD: painter}, capacity=1, max_batch=4).start()
    try:
        client = create_app(dataclass_replace(served, painters={FORWARD: painter}), worker).test_client()
        photo = _jpeg_bytes()
        running, _ = _in_threads(1, lambda i: _post(client, photo))
        _wait_until(lambda: calls == [1])
        waiting, waited = _in_threads(1, lambda i: _post(client, photo))
        _wait_until(lambda: worker.stats().waiting == 1)
        started = time.monotonic()
        full = _post(client, photo)
        assert time.monotonic() - started < 5  # at once, not after the queue drains
        assert "busy" in _one_line_error(full, 503)
        assert int(full.headers["Retry-After"]) >= 1
        gate.set()
        for t in running + waiting:
            t.join(30)
        assert waited[0].status_code == 200
        assert _post(client, photo).status_code == 200
    finally:
        gate.set()
        worker.stop()


def test_queue_full_is_raised_by_the_worker_itself():
    painter, gate, calls = _gated(lambda batch: batch)
    worker = ModelWorker({"x": painter}, capacity=1, max_batch=1).start()
    try:
        running, _ = _in_threads(1, lambda i: worker.submit("x", np.zeros((1, 2))))
        _wait_until(lambda: calls == [1])
        waiting, _ = _in_threads(1, lambda i: worker.submit("x", np.zeros((1, 2))))
        _wait_until(lambda: worker.stats().waiting == 1)
        with pytest.raises(QueueFull) as caught:
            worker.submit("x", np.zeros((1, 2)))
        assert caught.value.retry_after >= 1
        gate.set()
        for t in running + waiting:
            t.join(10)
        assert worker.stats().batches == {1: 2}
    finally:
        gate.set()
        worker.stop()


def dataclass_replace(served, **changes):
    import dataclasses

    return dataclasses.replace(served, **changes)


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


# ---- a latent model -------------------------------------------------------------------------


def untrained_run(root, name: str):
    """A run directory of family `name` holding one checkpoint of an untrained tiny model
    (the tiny CycleGAN's sizes, where the family has those fields)."""
    import dataclasses

    from conftest import TINY_CYCLEGAN
    from painter.config import config_to_toml
    from painter.families import FAMILIES
    from painter.train.checkpoints import save_checkpoint

    family = FAMILIES[name]
    fields = {f.name for f in dataclasses.fields(family.config_class)}
    sizes = {**TINY_CYCLEGAN, "latent_dim": 8, "gen_filters": 16 if name == "noise_gan" else 4}
    if not family.takes_photos:
        sizes["image_size"] = 16
    config = family.config_class(**{k: v for k, v in sizes.items() if k in fields})
    run = root / name
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(config))
    model = family.build(config)
    family.compile(model, config, steps_per_epoch=1, jit_compile=False)
    save_checkpoint(run, model, config, epoch=1, step_in_epoch=0, global_step=1,
                    metrics={"mifid": 321.5})
    return run


def _registered_families():
    from painter.families import FAMILIES

    return list(FAMILIES)


@pytest.mark.parametrize("name", _registered_families())
def test_every_family_is_served_through_the_registry(name, tmp_path):
    from painter.families import FAMILIES
    from painter.serve.app import create_app
    from painter.serve.model import load_served_model

    family = FAMILIES[name]
    served = load_served_model(untrained_run(tmp_path, name), log=lambda m: None)
    worker = ModelWorker(served.painters).start()
    try:
        client = create_app(served, worker).test_client()
        model = client.get("/api/model").get_json()
        assert model["family"] == name and model["mifid"] == 321.5
        if family.takes_photos:
            routes = [FORWARD] + ([REVERSE] if family.reverse_network else [])
            assert [d["route"] for d in model["directions"]] == routes
            for route in routes:
                response = _post(client, _jpeg_bytes(), direction=route)
                assert _decode(response.data).shape == (256, 256, 3)
        else:
            assert model["kind"] == "latents"
            response = client.post("/api/paint", data={"seed": "3"})
            assert _decode(response.data).shape == (256, 256, 3)
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory):
    return untrained_run(tmp_path_factory.mktemp("runs"), "noise_gan")


def test_a_latent_model_paints_one_per_seed(noise_run):
    from painter.serve.app import create_app
    from painter.serve.model import load_served_model

    served = load_served_model(noise_run, log=lambda m: None)
    worker = ModelWorker(served.painters).start()
    try:
        client = create_app(served, worker).test_client()
        model = client.get("/api/model").get_json()
        assert model["kind"] == "latents" and model["directions"] == []
        assert model["mifid"] == 321.5 and "321.50" in client.get("/").get_data(as_text=True)
        one, again, other = (client.post("/api/paint", data={"seed": s}) for s in ("7", "7", "8"))
        assert one.status_code == again.status_code == other.status_code == 200
        assert 'filename="seed_7.jpg"' in one.headers["Content-Disposition"]
        assert _decode(one.data).shape == (256, 256, 3)
        assert one.data == again.data and one.data != other.data
        assert "whole number" in _one_line_error(client.post("/api/paint", data={"seed": "x"}), 400)
        assert "latents" in _one_line_error(_post(client, _jpeg_bytes()), 400)
        assert client.post("/api/paint", data={"seed": "9"}).status_code == 200
    finally:
        worker.stop()


# ---- the command ---------------------------------------------------------------------------


def test_serve_command_errors_are_one_line(run_cli, one_error_line, tmp_path, tiny_run):
    code, _, err = run_cli("serve", tmp_path / "nothing")
    assert code == 2 and "neither `stylizer`" in one_error_line(err)
    code, _, err = run_cli("serve", tiny_run, "--checkpoint", "best")
    assert code == 1 and "no checkpoint 'best'" in one_error_line(err)
    code, _, err = run_cli("serve", "stylizer", "--checkpoint", "last")
    assert code == 2 and "the stylizer has none" in one_error_line(err)
    code, _, err = run_cli("serve", "stylizer", "--strength", "2")
    assert code == 2 and "--strength 2" in one_error_line(err)


def test_a_taken_port_is_one_line(served, worker):
    import socket

    from painter.errors import UsageError
    from painter.serve.app import create_app
    from painter.serve.server import make_server

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"--port {port}: already in use"):
            make_server(create_app(served, worker), "127.0.0.1", port)


# ---- behind waitress, as `painter serve` runs it --------------------------------------------


@pytest.fixture
def live(served, worker):
    """Starts waitress (`make_server`) on a free loopback port with the given limits;
    returns a function (limits → port)."""
    from painter.serve.app import create_app
    from painter.serve.server import make_server

    servers = []

    def start(limits=Limits()):
        server = make_server(create_app(served, worker, limits), "127.0.0.1", 0, limits=limits,
                             threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        return server.effective_port

    yield start
    for server in servers:
        server.close()


def _http_post(port: int, data: bytes, name: str = "photo.png"):
    import http.client

    boundary = "paintertestboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{name}\"\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", "/api/paint", body=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def test_behind_waitress_uploads_stay_in_memory(live, monkeypatch):
    import tempfile

    def refuse(*args, **kwargs):
        raise AssertionError("a request body went to a temporary file")

    port = live()
    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", refuse)
    big = _png(Image.fromarray(np.random.default_rng(3).integers(0, 256, (600, 600, 3), np.uint8)))
    assert len(big) > 1_000_000  # over waitress's default 512 kB in-memory body
    status, kind, body = _http_post(port, big)
    assert (status, kind) == (200, "image/jpeg") and _decode(body).shape == (256, 256, 3)


def test_behind_waitress_an_upload_over_the_limit_is_413(live):
    port = live(Limits(max_bytes=200_000))
    over = _png(Image.fromarray(np.random.default_rng(4).integers(0, 256, (300, 300, 3), np.uint8)))
    assert 200_000 + 64 * 1024 < len(over) < 400_000  # refused by the app, as JSON
    status, kind, body = _http_post(port, over)
    assert (status, kind) == (413, "application/json") and b"200,000 bytes" in body
    far_over = b"\0" * 500_000  # over twice the limit: refused by waitress before the app
    assert _http_post(port, far_over)[0] == 413
    status, _, body = _http_post(port, _jpeg_bytes())
    assert status == 200 and _decode(body).shape == (256, 256, 3)
