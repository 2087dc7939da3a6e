"""`painter serve` under load: N concurrent clients on loopback against the real command.

Starts `painter serve MODEL` in its own process, then for --duration seconds --clients
threads each POST the embedded sample's photos (256×256 JPEGs, round robin) to
/api/paint over one keep-alive connection, one request at a time, and wait for the
painting. A 503 (queue full) is counted and retried after its Retry-After. Then:

  requests/s        paintings received per second (HTTP 200)
  p50 / p99         latency of those requests, upload to last byte
  batches           images per model call, from the server's /healthz
  served / bare     paintings per second through the server ÷ the same model's bare
                    batched inference in this process (the worker's painter on stacked
                    sample photos, batches of --batch, no HTTP, no JPEG): the goal ≥ 0.8.
                    Bare is measured before and after the load and averaged, as the
                    machine's load may drift.
  model busy        the share of the load's wall time the worker spent in model calls
                    (/healthz), and its images/s inside them: the same ratio seen from
                    inside the server, under the same load as the requests.

    .venv/bin/python scripts/bench_serve.py MODEL [--clients 16] [--duration 60]
        [--batch 16] [--queue 32] [--bare-seconds 20] [--json]

MODEL is a run directory or `stylizer`, as for `painter serve`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def multipart(photo: bytes, name: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    body += photo + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def get_json(port: int, path: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def wait_ready(port: int, server: subprocess.Popen, timeout: float = 600) -> bool:
    """Whether the server answered /healthz ok within `timeout` (False if it exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if get_json(port, "/healthz").get("ok"):
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    return False


def client(port: int, payloads: list, offset: int, deadline: float, results: dict) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    index = offset
    while time.monotonic() < deadline:
        body, content_type = payloads[index % len(payloads)]
        index += 1
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/paint", body=body,
                               headers={"Content-Type": content_type})
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            results["errors"] += 1
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            continue
        elapsed = time.perf_counter() - started
        if response.status == 200:
            with results["lock"]:
                results["latencies"].append(elapsed)
        elif response.status == 503:
            with results["lock"]:
                results["busy"] += 1
            time.sleep(float(response.getheader("Retry-After", "1")))
        else:
            with results["lock"]:
                results["errors"] += 1
    connection.close()


def bare_images_per_second(painter, photos, batch: int, seconds: float) -> float:
    import numpy as np

    stack = np.stack([photos[i % len(photos)] for i in range(batch)])
    painter(stack)  # traced before the timing
    images, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        painter(stack)
        images += batch
    return images / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a run directory or `stylizer`")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--batch", type=int, default=16, help="the server's --batch")
    parser.add_argument("--queue", type=int, default=32, help="the server's --queue")
    parser.add_argument("--bare-seconds", type=float, default=20.0,
                        help="seconds of bare inference, before and after the load each")
    parser.add_argument("--json", action="store_true", help="print one JSON line too")
    args = parser.parse_args()

    from painter.data import SAMPLE_ROOT
    from painter.data.images import decode_rgb
    from painter.serve.model import load_served_model

    files = sorted((Path(SAMPLE_ROOT) / "photo_jpg").glob("*.jpg"))
    payloads = [multipart(f.read_bytes(), f.name) for f in files]
    photos = [decode_rgb(f.read_bytes(), str(f), image_size=256) for f in files]

    served = load_served_model(args.model, log=lambda m: None)
    painter = next(iter(served.painters.values()))
    bare_before = bare_images_per_second(painter, photos, args.batch, args.bare_seconds)

    port = free_port()
    command = [str(REPO / ".venv" / "bin" / "painter"), "serve", str(args.model),
               "--port", str(port), "--batch", str(args.batch), "--queue", str(args.queue)]
    log = tempfile.TemporaryFile("w+")  # the server's messages, shown if it fails
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        if not wait_ready(port, server):
            log.seek(0)
            sys.exit(f"painter serve did not become ready:\n{log.read()[-3000:]}")
        warm = get_json(port, "/healthz")["worker"]
        results = {"latencies": [], "busy": 0, "errors": 0, "lock": threading.Lock()}
        started = time.monotonic()
        deadline = started + args.duration
        threads = [threading.Thread(target=client, args=(port, payloads, i, deadline, results))
                   for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
        worker = get_json(port, "/healthz")["worker"]
    finally:
        server.terminate()
        server.wait(60)

    bare_after = bare_images_per_second(painter, photos, args.batch, args.bare_seconds)
    bare = (bare_before + bare_after) / 2
    # The warm-up's one-image call is not part of the load.
    batches = {int(k): v - warm["batches"].get(k, 0) for k, v in worker["batches"].items()}
    batches = {k: v for k, v in sorted(batches.items()) if v}
    calls = sum(batches.values())
    # The worker's own view over the same minute: how busy the model was, and its images/s
    # inside model calls (the server's bare rate, under the same load as the requests).
    model_seconds = worker["model_seconds"] - warm["model_seconds"]
    model_images = worker["images"] - warm["images"]
    latencies = results["latencies"]
    served_rate = len(latencies) / wall
    summary = {
        "model": str(args.model), "family": served.family, "clients": args.clients,
        "duration_s": round(wall, 1), "batch": args.batch, "queue": args.queue,
        "requests": len(latencies), "requests_per_s": round(served_rate, 3),
        "p50_s": round(percentile(latencies, 50), 3) if latencies else None,
        "p99_s": round(percentile(latencies, 99), 3) if latencies else None,
        "busy_503": results["busy"], "errors": results["errors"],
        "batches": batches,
        "mean_batch": round(sum(k * v for k, v in batches.items()) / calls, 2) if calls else 0,
        "bare_images_per_s": [round(bare_before, 3), round(bare_after, 3)],
        "served_over_bare": round(served_rate / bare, 3) if bare else None,
        "model_busy": round(model_seconds / wall, 3),
        "model_images_per_s": round(model_images / model_seconds, 3) if model_seconds else None,
        "cpus": os.cpu_count(), "machine": platform.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"painter serve {args.model} ({served.family}): {args.clients} clients for "
          f"{wall:.0f} s, --batch {args.batch}, --queue {args.queue}, {os.cpu_count()} CPUs")
    print(f"  {len(latencies)} paintings, {served_rate:.2f} requests/s; latency p50 "
          f"{summary['p50_s']} s, p99 {summary['p99_s']} s; {results['busy']} × 503, "
          f"{results['errors']} errors")
    print(f"  batches (images: calls): {batches}; mean {summary['mean_batch']}")
    print(f"  bare batched inference: {bare_before:.2f} images/s before, {bare_after:.2f} after")
    print(f"  served / bare: {summary['served_over_bare']} (goal ≥ 0.8)")
    print(f"  in the server: the model busy {summary['model_busy']:.0%} of the time, "
          f"{summary['model_images_per_s']} images/s inside model calls")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
