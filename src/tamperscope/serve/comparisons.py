"""HTTP routes for comparing two versions of a picture (``tamperscope compare`` over the API).

* ``POST /v1/comparisons`` - two files, ``original`` and ``suspect`` (multipart); the comparison runs at once
  in a worker process of its own (the service's job timeout and memory cap apply), and the answer is the
  report with links to its files (201). Each upload is checked like an analysis upload first (type judged
  from its content, size, pixel count).
* ``GET /v1/comparisons/{id}`` - the report again, with its links.
* ``GET /v1/comparisons/{id}/artifacts/{name}`` - a file the report lists: report.json, report.html,
  heatmap.png, mask.png, overlay.png, aligned.png.

Files live under ``<data>/comparisons/<id>/``; the two uploads are deleted once the comparison is written (the
report keeps their names and SHA-256). At most ``workers`` comparisons run at once; another waits up to the
job timeout for a free slot, then gets 503.
"""

from __future__ import annotations

import json
import multiprocessing
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .upload import Rejected, check_image, safe_filename

_MEDIA = {".json": "application/json", ".html": "text/html; charset=utf-8", ".png": "image/png"}
_ID_CHARS = frozenset("0123456789abcdef")


class ComparisonOut(BaseModel):
    id: str
    label: str = Field(description="changed, unchanged or not-comparable")
    original: str = Field(description="File name of the original")
    suspect: str = Field(description="File name of the suspect")
    regions: list[dict[str, Any]] = Field(default_factory=list)
    seconds: float | None = None
    links: dict[str, str] = Field(default_factory=dict)
    report: dict[str, Any] = Field(description="The full report.json of the comparison")


def _worker(conn, original: str, suspect: str, out: str, limits: dict[str, Any], memory_mb: int | None) -> None:
    """Run in a child process: compare, write the files, send back (ok, error kind, message)."""
    import resource

    if memory_mb:
        from ..scan.local import _address_space

        limit = _address_space() + int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from ..api import compare
    from ..comparison.write import write_comparison
    from ..errors import InputError
    from ..image import Limits

    try:
        result = compare(original, suspect, limits=Limits(**limits))
        # The report names the files, not where this server keeps them.
        result.original.source = Path(original).name
        result.suspect.source = Path(suspect).name
        write_comparison(result, out, formats=("json", "html"))
        conn.send((True, None, None))
    except InputError as exc:
        conn.send((False, exc.kind, str(exc)))
    except MemoryError:
        conn.send((False, "memory", "ran out of memory"))
    except Exception as exc:  # a bug must come back as an answer, not hang the request
        conn.send((False, "internal", f"{type(exc).__name__}: {exc}"))


def run_isolated(original: Path, suspect: Path, out: Path, limits: dict[str, Any], timeout_s: float,
                 memory_mb: int | None) -> tuple[bool, str | None, str | None]:
    """Compare in a fresh process (forkserver: the service has threads); kill it past ``timeout_s``."""
    context = multiprocessing.get_context("forkserver")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_worker, args=(child, str(original), str(suspect), str(out), limits, memory_mb),
                              daemon=True)
    process.start()
    child.close()
    try:
        if parent.poll(timeout_s):
            try:
                return parent.recv()
            except EOFError:
                pass
            process.join(5)
            return False, "crashed", f"the comparison worker died (exit code {process.exitcode})"
        return False, "timeout", f"the comparison ran past {timeout_s:.0f} s"
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()


def install_comparisons(app: FastAPI, service, authorize, errors: dict, upload_errors: dict) -> None:
    """Add the comparison routes to the service's app (called by :func:`tamperscope.serve.app.create_app`)."""
    settings = service.settings
    slots = threading.BoundedSemaphore(max(1, settings.workers))

    def folder() -> Path:
        return Path(settings.data) / "comparisons"

    def read_upload(file: UploadFile, role: str) -> bytes:
        limit = settings.max_upload_bytes
        data = file.file.read(limit + 1)
        try:
            check_image(data, limit, settings.max_pixels)
        except Rejected as exc:
            service.metrics.reject(exc.kind)
            raise StarletteHTTPException(exc.status, f"{role}: {exc.message}") from None
        return data

    @app.post("/v1/comparisons", status_code=201, response_model=ComparisonOut, tags=["comparisons"],
              summary="Compare two versions of a picture (original, suspect); returns the report",
              dependencies=[Depends(authorize)], responses={**upload_errors, 504: {"description": "Too slow"}})
    def create_comparison(
        original: UploadFile = File(..., description="The original or earlier version"),
        suspect: UploadFile = File(..., description="The version in question (maps are in its frame)"),
    ):
        first, second = read_upload(original, "original"), read_upload(suspect, "suspect")
        if not slots.acquire(timeout=settings.job_timeout_s):
            raise StarletteHTTPException(503, "every comparison slot is busy; try again later", {"Retry-After": "30"})
        try:
            ident = secrets.token_hex(16)
            out = folder() / ident
            inputs = out / "inputs"
            inputs.mkdir(parents=True)
            names = [safe_filename(original.filename), safe_filename(suspect.filename)]
            if names[0] == names[1]:
                names = [f"original-{names[0]}", f"suspect-{names[1]}"]
            paths = [inputs / names[0], inputs / names[1]]
            paths[0].write_bytes(first)
            paths[1].write_bytes(second)
            import time

            began = time.perf_counter()
            ok, kind, message = run_isolated(
                paths[0], paths[1], out, {"max_pixels": settings.max_pixels,
                                          "max_file_bytes": settings.max_upload_bytes},
                settings.job_timeout_s, settings.memory_mb)
            seconds = time.perf_counter() - began
            shutil.rmtree(inputs, ignore_errors=True)
        finally:
            slots.release()
        if not ok:
            shutil.rmtree(out, ignore_errors=True)
            status = {"timeout": 504, "memory": 413, "crashed": 500, "internal": 500}.get(kind, 422)
            raise StarletteHTTPException(status, message or "the comparison failed")
        return _out(ident, _report(folder(), ident), seconds)

    @app.get("/v1/comparisons/{comparison_id}", response_model=ComparisonOut, tags=["comparisons"],
             summary="A comparison's report and links", dependencies=[Depends(authorize)], responses=errors)
    def get_comparison(comparison_id: str):
        return _out(comparison_id, _report(folder(), comparison_id))

    @app.get("/v1/comparisons/{comparison_id}/artifacts/{name}", tags=["comparisons"],
             summary="A comparison's file: report.json, report.html, heatmap.png, mask.png, overlay.png, aligned.png",
             dependencies=[Depends(authorize)], response_class=Response,
             responses={**errors, 200: {"content": {m: {} for m in sorted(set(_MEDIA.values()))},
                                        "description": "The file"}})
    def get_comparison_artifact(comparison_id: str, name: str):
        report = _report(folder(), comparison_id)
        listed = {v for k, v in (report.get("artifacts") or {}).items() if k != "directory"}
        path = folder() / comparison_id / name
        if name not in listed or not path.is_file():
            raise StarletteHTTPException(404, f"this comparison has no file {name!r}")
        headers = {}
        if path.suffix == ".html":
            headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups"
        return FileResponse(path, media_type=_MEDIA.get(path.suffix, "application/octet-stream"), headers=headers)


def _report(folder: Path, ident: str) -> dict[str, Any]:
    if len(ident) != 32 or not set(ident) <= _ID_CHARS:
        raise StarletteHTTPException(404, "no comparison with this id")
    try:
        return json.loads((folder / ident / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise StarletteHTTPException(404, "no comparison with this id") from None


def _out(ident: str, report: dict[str, Any], seconds: float | None = None) -> dict[str, Any]:
    base = f"/v1/comparisons/{ident}"
    artifacts = {k: v for k, v in (report.get("artifacts") or {}).items() if k != "directory"}
    links = {"self": base, **{key: f"{base}/artifacts/{value}" for key, value in artifacts.items()}}
    return {
        "id": ident,
        "label": report["verdict"]["label"],
        "original": report["original"]["source"],
        "suspect": report["suspect"]["source"],
        "regions": report.get("regions", []),
        "seconds": None if seconds is None else round(seconds, 3),
        "links": links,
        "report": {**report, "artifacts": artifacts},  # the server's own paths stay private
    }
