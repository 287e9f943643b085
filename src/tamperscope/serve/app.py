"""The web service: an HTTP API and a page over :func:`tamperscope.analyze`, built by :func:`create_app`.

Routes (see docs/api.md): ``POST /v1/analyses`` queues an upload and answers
at once with its id; ``GET /v1/analyses/{id}`` gives the status and, when done,
the report; ``GET /v1/analyses/{id}/artifacts/{name}`` serves the files
``tamperscope analyze -o`` writes (report.json, report.html, overlay, heatmap,
mask and layer PNGs); ``GET /v1/analyses/{id}/preview`` (and ``/preview/mask``)
the small preview a scan keeps too; ``GET /v1/analyses`` lists the history;
``POST /v1/comparisons`` compares two versions of a picture (:mod:`~tamperscope.serve.comparisons`); ``/healthz``,
``/metrics`` (Prometheus text); ``/`` the page, ``/docs`` the OpenAPI page,
both working without any network.

Everything a job produces lives under the data folder: ``tamperscope.sqlite``
(the history, :mod:`~tamperscope.serve.store`), ``uploads/<id>/`` (until the
job ends) and ``analyses/<id>/`` (the report files), so a restart loses nothing
that finished.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..report.schema import LABEL_SHORT
from .guards import RateLimit, TokenBuckets, UploadReader, is_loopback, token_matches
from .jobs import PREVIEW_NAMES, JobPool, PoolSettings, upload_path
from .metrics import Metrics, labels
from .store import Job, JobStore
from .upload import Rejected, check_image, safe_filename

STATIC = Path(__file__).parent / "static"
_MEDIA = {".json": "application/json", ".html": "text/html; charset=utf-8", ".png": "image/png",
          ".jpg": "image/jpeg", ".md": "text/markdown; charset=utf-8"}
_ID_CHARS = frozenset("0123456789abcdef")


@dataclass
class Settings:
    """How the service runs. ``host`` only decides whether a token is required (any non-loopback host)."""

    data: Path = Path("tamperscope-data")
    db: Path | None = None  # default: <data>/tamperscope.sqlite
    host: str = "127.0.0.1"
    token: str | None = None
    workers: int = 2
    job_timeout_s: float = 300.0
    memory_mb: int | None = 4096
    profile: str = "default"
    max_upload_mb: float = 64.0
    max_pixels: int = 60_000_000
    read_timeout_s: float = 15.0  # the longest silence inside an upload
    upload_timeout_s: float = 120.0  # the whole upload
    uploads_per_minute: float = 30.0
    upload_burst: int = 10
    requests_per_minute: float = 1200.0
    request_burst: int = 120
    max_queue: int = 500
    cors_origins: list[str] = field(default_factory=list)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def db_path(self) -> Path:
        return Path(self.db) if self.db else Path(self.data) / "tamperscope.sqlite"


class ConfigError(ValueError):
    """Settings the service refuses to start with (the message is one line)."""


class AnalysisOut(BaseModel):
    id: str
    status: str = Field(description="queued, running, done or failed")
    filename: str
    sha256: str
    file_size: int
    format: str | None = None
    width: int | None = None
    height: int | None = None
    profile: str
    label: str | None = Field(None, description="Verdict label when done: edited, ai-generated, ai-edited, "
                              "authentic, no-evidence or inconclusive")
    score: float | None = Field(None, description="Manipulation score when done (null when no detector decided)")
    label_words: str | None = Field(None, description="The label in words, as every report says it")
    class_scores: dict[str, float | None] | None = Field(
        None, description="Calibrated probability per class (edited, ai-generated, ai-edited, no-manipulation; "
        "null = not checked), when done; null when the fusion was not calibrated")
    regions: list[dict[str, Any]] | None = None
    provenance: dict[str, Any] | None = None
    detectors: dict[str, Any] | None = None
    error: str | None = Field(None, description="Why it failed, in one line")
    error_kind: str | None = None
    seconds: float | None = None
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    links: dict[str, str] = Field(default_factory=dict)
    report: dict[str, Any] | None = Field(None, description="The full report.json (GET of one analysis, when done)")


class AnalysisList(BaseModel):
    items: list[AnalysisOut]
    total: int
    limit: int
    offset: int


class ErrorOut(BaseModel):
    error: str
    message: str
    status: int


_ERRORS = {code: {"model": ErrorOut, "description": words} for code, words in {
    401: "Missing or wrong bearer token", 404: "No such analysis or artifact", 429: "Rate limit reached",
}.items()}
_UPLOAD_ERRORS = {**_ERRORS, **{code: {"model": ErrorOut, "description": words} for code, words in {
    408: "The upload was too slow", 413: "File or pixel count over the limit",
    415: "Not an image type tamperscope reads (judged by content)", 422: "No file, an empty or damaged file",
    503: "The queue is full",
}.items()}}


class Service:
    """What the routes share: settings, the store, the pool, the metrics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.data = Path(settings.data)
        self.analyses = self.data / "analyses"
        self.metrics = Metrics()
        self.store: JobStore | None = None
        self.pool: JobPool | None = None

    def start(self) -> None:
        self.analyses.mkdir(parents=True, exist_ok=True)
        (self.data / "uploads").mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.settings.db_path)
        pool_settings = PoolSettings(
            workers=self.settings.workers, timeout_s=self.settings.job_timeout_s, memory_mb=self.settings.memory_mb,
            analyses=self.analyses, max_pixels=self.settings.max_pixels,
            max_file_bytes=self.settings.max_upload_bytes, profile=self.settings.profile,
        )
        self.pool = JobPool(self.store, pool_settings, on_finished=self._finished)
        self.pool.start()
        for job in self.store.recover():
            if upload_path(self.data, job).is_file():
                self.pool.submit(job)
            else:
                self.store.finish(_lost(job))

    def stop(self) -> None:
        if self.pool is not None:
            self.pool.close(timeout=5.0)
        if self.store is not None:
            self.store.close()

    def _finished(self, job: Job, row) -> None:
        self.metrics.analysis(job.status, job.error_kind, job.seconds)

    def gauges(self) -> dict[str, tuple[str, dict[str, float]]]:
        counts = self.store.counts() if self.store else {}
        return {
            "tamperscope_jobs": ("Jobs in the history by status.",
                                 {labels(status=s): n for s, n in counts.items()}),
            "tamperscope_queue_depth": ("Jobs waiting for a worker.", {"": self.pool.queued if self.pool else 0}),
            "tamperscope_workers_busy": ("Workers analysing now.", {"": self.pool.running if self.pool else 0}),
            "tamperscope_workers": ("Worker slots.", {"": self.settings.workers}),
        }


def _lost(job: Job):
    from ..scan.store import Row

    return Row(sha256=job.id, path=job.filename, status="error", error_kind="interrupted",
               error="the upload was lost while the server was stopped; upload the image again",
               finished_at=time.time())


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app. Raises :class:`ConfigError` for settings it will not run with (e.g. no token off loopback)."""
    settings = settings or Settings()
    if not is_loopback(settings.host) and not settings.token:
        raise ConfigError(f"serving on {settings.host} (not loopback) needs a token: pass --token or set "
                          "TAMPERSCOPE_TOKEN")
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="tamperscope", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
        description="Image forensics: was this image changed, where, and why. Upload an image, poll the analysis, "
        "fetch the report and its maps.",
    )
    app.state.service = service
    bearer = HTTPBearer(auto_error=False, description="Required when the server was started with a token")

    def authorize(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        header = [] if credentials is None else [(b"authorization",
                                                  f"{credentials.scheme} {credentials.credentials}".encode())]
        if not token_matches(header, settings.token):
            raise StarletteHTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})

    _install_errors(app)
    _install_middleware(app, service)
    _install_page(app, service)

    @app.get("/healthz", tags=["service"], summary="Liveness")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "workers": settings.workers,
                "queued": service.pool.queued if service.pool else 0}

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics", response_class=PlainTextResponse,
             dependencies=[Depends(authorize)], responses=_ERRORS)
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(service.metrics.render(service.gauges),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/v1/analyses", status_code=202, response_model=AnalysisOut, tags=["analyses"],
              summary="Upload an image; returns its analysis id at once", dependencies=[Depends(authorize)],
              responses=_UPLOAD_ERRORS)
    def create_analysis(file: UploadFile = File(..., description="The image (type judged from its content)")):
        limit = settings.max_upload_bytes
        data = file.file.read(limit + 1)
        try:
            fmt, width, height = check_image(data, limit, settings.max_pixels)
        except Rejected as exc:
            service.metrics.reject(exc.kind)
            raise StarletteHTTPException(exc.status, exc.message) from None
        if service.pool.queued >= settings.max_queue:
            service.metrics.reject("queue-full")
            raise StarletteHTTPException(503, f"the queue is full ({settings.max_queue} waiting); try again later",
                                         {"Retry-After": "30"})
        job = Job(id=secrets.token_hex(16), filename=safe_filename(file.filename),
                  sha256=hashlib.sha256(data).hexdigest(), file_size=len(data), format=fmt, width=width,
                  height=height, profile=settings.profile, status="queued", created_at=time.time())
        target = upload_path(service.data, job)
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        service.store.create(job)
        service.pool.submit(job)
        return _out(job)

    @app.get("/v1/analyses", response_model=AnalysisList, tags=["analyses"], summary="History, newest first",
             dependencies=[Depends(authorize)], responses=_ERRORS)
    def list_analyses(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9),
                      status: str | None = Query(None, pattern="^(queued|running|done|failed)$")):
        jobs = service.store.list(limit=limit, offset=offset, status=status)
        counts = service.store.counts()
        total = counts.get(status, 0) if status else sum(counts.values())
        return {"items": [_out(job, service=service) for job in jobs], "total": total, "limit": limit,
                "offset": offset}

    @app.get("/v1/analyses/{analysis_id}", response_model=AnalysisOut, tags=["analyses"],
             summary="Status, and the report when done", dependencies=[Depends(authorize)], responses=_ERRORS)
    def get_analysis(analysis_id: str):
        job = _job(service, analysis_id)
        report = None
        if job.status == "done":
            import json

            report = json.loads((service.analyses / job.id / "report.json").read_text(encoding="utf-8"))
        return _out(job, report, service)

    @app.get("/v1/analyses/{analysis_id}/artifacts/{name:path}", tags=["analyses"],
             summary="A report file: report.json, report.html, overlay.jpg, heatmap.png, mask.png, layers/NAME.png",
             dependencies=[Depends(authorize)],
             responses={**_ERRORS, 400: {"model": ErrorOut, "description": "A name that leaves the folder"},
                        409: {"model": ErrorOut, "description": "The analysis has not finished"},
                        200: {"content": {m: {} for m in sorted(set(_MEDIA.values()))},
                              "description": "The file"}},
             response_class=Response)
    def get_artifact(analysis_id: str, name: str, download: bool = Query(False)):
        job = _job(service, analysis_id)
        path = _artifact_path(service, job, name)
        headers = {}
        if download:
            stem = Path(job.filename).stem or "image"
            headers["Content-Disposition"] = f'attachment; filename="{_ascii(stem)}-{Path(name).name}"'
        if path.suffix == ".html":
            # The report page quotes the uploaded file; served from this origin it gets no access to it.
            headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups"
        return FileResponse(path, media_type=_MEDIA.get(path.suffix, "application/octet-stream"), headers=headers)

    @app.get("/v1/analyses/{analysis_id}/preview", tags=["analyses"],
             summary="The small preview (JPEG, 320 px): the heatmap over the image where it has a region, else a "
             "plain thumbnail", dependencies=[Depends(authorize)], response_class=Response,
             responses={**_ERRORS, 200: {"content": {"image/jpeg": {}}, "description": "The preview"}})
    def get_preview(analysis_id: str):
        return _preview_response(service, _job(service, analysis_id), 0)

    @app.get("/v1/analyses/{analysis_id}/preview/mask", tags=["analyses"],
             summary="The preview's mask (PNG, white = manipulated), for an analysis that found a region",
             dependencies=[Depends(authorize)], response_class=Response,
             responses={**_ERRORS, 200: {"content": {"image/png": {}}, "description": "The mask"}})
    def get_preview_mask(analysis_id: str):
        return _preview_response(service, _job(service, analysis_id), 1)

    from .comparisons import install_comparisons

    install_comparisons(app, service, authorize, _ERRORS, _UPLOAD_ERRORS)
    return app


def _preview_file(service: Service, job: Job, which: int) -> Path | None:
    if job.status != "done":
        return None
    path = service.analyses / job.id / PREVIEW_NAMES[which]
    return path if path.is_file() else None


def _preview_response(service: Service, job: Job, which: int) -> FileResponse:
    path = _preview_file(service, job, which)
    if path is None:
        raise StarletteHTTPException(404, "this analysis has no preview" + (" mask" if which else ""))
    return FileResponse(path, media_type="image/png" if which else "image/jpeg",
                        headers={"Cache-Control": "private, max-age=86400"})


def _job(service: Service, analysis_id: str) -> Job:
    job = None
    if len(analysis_id) == 32 and set(analysis_id) <= _ID_CHARS:
        job = service.store.get(analysis_id)
    if job is None:
        raise StarletteHTTPException(404, "no analysis with this id")
    return job


def _artifact_path(service: Service, job: Job, name: str) -> Path:
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\x00" in name:
        raise StarletteHTTPException(400, "an artifact name is a file of the analysis folder, e.g. overlay.jpg")
    if job.status != "done":
        raise StarletteHTTPException(409, f"the analysis is {job.status}; its files exist once it is done")
    folder = (service.analyses / job.id).resolve()
    path = (folder / name).resolve()
    # The name must be one the report lists: nothing else in the data folder is ever served.
    listed = set(_artifacts(service, job).values())
    if name not in listed or not path.is_relative_to(folder) or not path.is_file():
        raise StarletteHTTPException(404, f"this analysis has no file {name!r}")
    return path


def _artifacts(service: Service, job: Job) -> dict[str, str]:
    import json

    try:
        report = json.loads((service.analyses / job.id / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in (report.get("artifacts") or {}).items() if k != "directory" and isinstance(v, str)}


def _out(job: Job, report: dict[str, Any] | None = None, service: Service | None = None) -> dict[str, Any]:
    values = job.to_dict()
    base = f"/v1/analyses/{job.id}"
    links = {"self": base}
    if service is not None:
        for which, key, path in ((0, "preview", "preview"), (1, "preview_mask", "preview/mask")):
            if _preview_file(service, job, which) is not None:
                links[key] = f"{base}/{path}"
    if job.status == "done":
        names = (report or {}).get("artifacts") or {"report": "report.json", "html": "report.html",
                                                    "overlay": "overlay.jpg", "heatmap": "heatmap.png",
                                                    "mask": "mask.png"}
        links.update({key: f"{base}/artifacts/{value}" for key, value in names.items()
                      if key != "directory" and isinstance(value, str)})
    if report is not None:
        report = {**report, "artifacts": {k: v for k, v in (report.get("artifacts") or {}).items()
                                          if k != "directory"}}  # the server's own paths stay private
    words = LABEL_SHORT.get(job.label or "", job.label) if job.status == "done" else None
    return {**values, "label_words": words, "links": links, "report": report}


def _ascii(text: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in text)[:80]


def _install_errors(app: FastAPI) -> None:
    kinds = {400: "bad-request", 401: "unauthorized", 404: "not-found", 405: "method-not-allowed",
             408: "upload-timeout", 409: "not-ready", 413: "too-large", 415: "unsupported-type",
             422: "invalid-request", 429: "rate-limited", 503: "busy"}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return JSONResponse({"error": kinds.get(exc.status_code, "error"), "message": message,
                             "status": exc.status_code}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors()[:3]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
            problems.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg")))
        message = "; ".join(problems) or "invalid request"
        if any(e.get("loc", ())[-1:] == ("file",) for e in exc.errors()):
            message = "send the image as a multipart form field named 'file' (" + message + ")"
        return JSONResponse({"error": "invalid-request", "message": message, "status": 422}, 422)


def _install_middleware(app: FastAPI, service: Service) -> None:
    settings = service.settings

    @app.middleware("http")
    async def measure(request: Request, call_next):
        began = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", None) or "unmatched"
        service.metrics.request(request.method, route, response.status_code, time.perf_counter() - began)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])
    # Added last = runs first: the rate limit, then the token and size checks before the body is read.
    app.add_middleware(UploadReader, token=settings.token, max_bytes=settings.max_upload_bytes,
                       read_timeout_s=settings.read_timeout_s, upload_timeout_s=settings.upload_timeout_s,
                       on_reject=service.metrics.reject)
    app.add_middleware(RateLimit, uploads=TokenBuckets(settings.uploads_per_minute, settings.upload_burst),
                       requests=TokenBuckets(settings.requests_per_minute, settings.request_burst),
                       on_reject=service.metrics.reject)


def _page_csp() -> str:
    # The page shows report.html in a sandboxed frame; the frame inherits this policy, so the report's one script
    # is allowed by its hash (the same pin the report sets for itself).
    from ..comparison.html import _SCRIPT as _COMPARISON_SCRIPT
    from ..report.html import _SCRIPT

    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    # The comparison's page (two versions side by side) is shown in the same kind of frame.
    digest += "' 'sha256-" + base64.b64encode(hashlib.sha256(_COMPARISON_SCRIPT.encode("utf-8")).digest()).decode()
    return ("default-src 'none'; script-src 'self' 'sha256-" + digest + "'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; connect-src 'self'; frame-src 'self' blob: data: about:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _install_page(app: FastAPI, service: Service) -> None:
    from fastapi_offline import core as offline

    docs_assets = Path(offline.__file__).parent / "static"
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=docs_assets), name="docs-assets")
    csp = _page_csp()
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="tamperscope API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")
