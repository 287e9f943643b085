"""Load benchmark of ``tamperscope serve`` on loopback: N concurrent uploads of one 4 MP JPEG.

Starts the server in a subprocess (``python -m tamperscope serve`` on a free 127.0.0.1 port, its own data
folder), sends ``--uploads`` uploads at once from as many client threads, each polling its analysis until it is
done, and reports: throughput (analyses finished per second, first upload to last result), latency of the upload
call (until the id comes back) and end to end (upload to finished report), p50/p99, and the peak resident memory
of the server with its workers (sum of RSS over the process tree, sampled every 0.1 s) and of the largest single
process. Bounded: every request has a timeout, the whole run a deadline; the server is stopped at the end.

    python benchmarks/serve_load.py --uploads 50 --workers 2
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from _machine import cpu_model


def make_jpeg(megapixels: float) -> bytes:
    import cv2
    import numpy as np
    from PIL import Image
    from skimage import data

    photo = data.astronaut()
    scale = (megapixels * 1e6 / (photo.shape[0] * photo.shape[1])) ** 0.5
    size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
    big = cv2.resize(photo, size, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    big += np.random.default_rng(0).normal(0, 2, big.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(big + 0.5, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 120.0) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def tree_rss(root: int) -> tuple[int, int]:
    """(sum, largest) RSS in bytes over ``root`` and its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, largest, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
        stack.extend(children.get(pid, []))
    return total, largest


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--megapixels", type=float, default=4.0)
    parser.add_argument("--deadline", type=float, default=600.0, help="Seconds the whole run may take.")
    args = parser.parse_args()

    image = make_jpeg(args.megapixels)
    port = free_port()
    data = tempfile.mkdtemp(prefix="serve-load-")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    server = subprocess.Popen(
        [sys.executable, "-m", "tamperscope", "serve", "--port", str(port), "--data", data,
         "--workers", str(args.workers), "--uploads-per-minute", "100000", "--upload-burst", str(args.uploads)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    stop = threading.Event()
    peaks = {"total": 0, "largest": 0}

    def sample() -> None:
        while not stop.is_set():
            total, largest = tree_rss(server.pid)
            peaks["total"], peaks["largest"] = max(peaks["total"], total), max(peaks["largest"], largest)
            time.sleep(0.1)

    try:
        began = time.monotonic()
        while True:
            try:
                if request(port, "GET", "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() - began > 60:
                raise SystemExit(f"the server did not start: {server.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        # One analysis first, so the fork server and the workers are warm as in a running service.
        body, kind = multipart("warm.jpg", image)
        status, created = request(port, "POST", "/v1/analyses", body, {"Content-Type": kind})
        assert status == 202, created
        while request(port, "GET", f"/v1/analyses/{created['id']}")[1]["status"] not in ("done", "failed"):
            time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        results: list[dict] = []
        lock = threading.Lock()
        deadline = time.monotonic() + args.deadline
        barrier = threading.Barrier(args.uploads)

        def client(index: int) -> None:
            body, kind = multipart(f"photo-{index}.jpg", image)
            barrier.wait()
            start = time.monotonic()
            status, created = request(port, "POST", "/v1/analyses", body, {"Content-Type": kind})
            uploaded = time.monotonic()
            outcome = {"upload_status": status, "upload_s": uploaded - start}
            if status == 202:
                while time.monotonic() < deadline:
                    job = request(port, "GET", f"/v1/analyses/{created['id']}")[1]
                    if job["status"] in ("done", "failed"):
                        outcome.update(status=job["status"], total_s=time.monotonic() - start,
                                       end=time.monotonic(), analysis_s=job["seconds"])
                        break
                    time.sleep(0.1)
            outcome["start"] = start
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.uploads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stop.set()
        sampler.join()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()

    done = [r for r in results if r.get("status") == "done"]
    span = max(r["end"] for r in done) - min(r["start"] for r in results) if done else float("nan")
    uploads = [r["upload_s"] for r in results]
    totals = [r["total_s"] for r in done]
    out = {
        "uploads": args.uploads, "workers": args.workers, "image_mp": args.megapixels, "image_bytes": len(image),
        "done": len(done), "failed": sum(r.get("status") == "failed" for r in results),
        "refused": sum(r["upload_status"] != 202 for r in results),
        "wall_s": span, "throughput_per_s": len(done) / span if done else 0.0,
        "upload_p50_s": percentile(uploads, 50), "upload_p99_s": percentile(uploads, 99),
        "total_p50_s": percentile(totals, 50) if totals else None,
        "total_p99_s": percentile(totals, 99) if totals else None,
        "analysis_mean_s": statistics.mean(r["analysis_s"] for r in done) if done else None,
        "peak_rss_total_mib": peaks["total"] / 2**20, "peak_rss_largest_mib": peaks["largest"] / 2**20,
        "machine": f"{cpu_model()}; {os.cpu_count()} cores visible; Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
