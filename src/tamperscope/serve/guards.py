"""Request guards that run before any route: per-client rate limit, bearer token, bounded upload reading.

They are plain ASGI middleware so that a refused request costs the server as
little as possible: a client over its rate, without the token, or announcing
an oversized body is answered before its body is read; an upload is read in
full, under a size cap and two time limits, before the route (and so before a
job is queued) sees it. A client that sends slowly ties up only its own
connection, never a worker.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: Room for the multipart framing around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_PATH = "/v1/analyses"


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_matches(headers: list[tuple[bytes, bytes]], token: str | None) -> bool:
    """True when no token is configured or the request carries ``Authorization: Bearer <token>``."""
    if not token:
        return True
    for name, value in headers:
        if name == b"authorization":
            scheme, _, given = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return False


async def send_error(send: Send, status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
    """The service's JSON error body (the same shape every route uses)."""
    body = json.dumps({"error": kind, "message": message, "status": status}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class TokenBuckets:
    """One token bucket per client: ``per_minute`` refill, ``burst`` capacity."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(max(1, burst))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 10_000:
                self._forget_full(now)
            tokens, stamp = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else math.inf

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: drop those so many clients cannot grow the table.
        self._buckets = {c: (t, s) for c, (t, s) in self._buckets.items() if t + (now - s) * self.rate < self.burst}


class RateLimit:
    """429 for a client over its rate; uploads have their own, tighter, bucket."""

    def __init__(self, app, uploads: TokenBuckets, requests: TokenBuckets, on_reject: Callable[[str], None]) -> None:
        self.app, self.uploads, self.requests, self.on_reject = app, uploads, requests, on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("unknown", 0))[0]
        upload = scope["method"] == "POST" and scope["path"] == UPLOAD_PATH
        wait = (self.uploads if upload else self.requests).take(client)
        if wait > 0:
            self.on_reject("rate-limited")
            retry = max(1, math.ceil(wait)) if math.isfinite(wait) else 3600
            what = "uploads" if upload else "requests"
            return await send_error(send, 429, "rate-limited",
                                    f"too many {what} from this client; try again in {retry} s",
                                    {"Retry-After": str(retry)})
        return await self.app(scope, receive, send)


class UploadReader:
    """Reads an upload's whole body under ``max_bytes`` and the time limits, then hands it to the app."""

    def __init__(self, app, token: str | None, max_bytes: int, read_timeout_s: float, upload_timeout_s: float,
                 on_reject: Callable[[str], None]) -> None:
        self.app, self.token, self.on_reject = app, token, on_reject
        self.max_body = max_bytes + MULTIPART_OVERHEAD
        self.max_bytes = max_bytes
        self.read_timeout_s, self.upload_timeout_s = read_timeout_s, upload_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != UPLOAD_PATH:
            return await self.app(scope, receive, send)
        if not token_matches(scope["headers"], self.token):
            self.on_reject("unauthorized")
            return await send_error(send, 401, "unauthorized", "a valid bearer token is required",
                                    {"WWW-Authenticate": "Bearer"})
        declared = _content_length(scope["headers"])
        if declared is not None and declared > self.max_body:
            return await self._too_large(send)
        body = bytearray()
        deadline = time.monotonic() + self.upload_timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(receive(), min(self.read_timeout_s, left))
            except (TimeoutError, asyncio.TimeoutError):
                self.on_reject("upload-timeout")
                return await send_error(send, 408, "upload-timeout",
                                        f"the upload was too slow (limits: {self.read_timeout_s:g} s without data, "
                                        f"{self.upload_timeout_s:g} s in all)", {"Connection": "close"})
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                return await self._too_large(send)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: only a disconnect can come

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        self.on_reject("too-large")
        await send_error(send, 413, "too-large", f"the upload is over the {self.max_bytes / 1048576:.1f} MiB limit",
                         {"Connection": "close"})


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
