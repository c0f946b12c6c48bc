"""The HTTP gateway (``llm-shield serve``): inline checks for applications not written in Python.

A thin adapter over one ``ShieldClient``: every request's events go through Kafka to the workers
and share their batches with everything else, so HTTP adds no scanning of its own. Requests are
validated with the worker's own decoder (the same machine-readable reasons as dead letters), bodies
over the event size limit are refused before they are read, an optional bearer token guards the
check endpoints, and at most ``serve.max_concurrency`` requests are answered at once: beyond that
the answer is 503 with Retry-After, never a queue that grows without bound.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from llm_shield.registry.errors import ShieldError
from llm_shield.streams.client import CheckRejected, CheckTimeout, ShieldClient
from llm_shield.streams.config import Settings
from llm_shield.streams.events import DeadLetter, RawRecord, decode_record

log = logging.getLogger(__name__)

ERROR_SCHEMA = "llm-shield.error/v1"
MAX_BATCH_EVENTS = 256
READY_CACHE_SECONDS = 5.0


@dataclass
class GatewayStats:
    requests: int = 0
    rejected: int = 0
    overloaded: int = 0
    timeouts: int = 0


def _error(status: int, reason: str, detail: str, **extra: Any) -> web.Response:
    body = {"schema": ERROR_SCHEMA, "reason": reason, "detail": detail, **extra}
    headers = {"Retry-After": "1"} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="llm-shield"'}
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


class Gateway:
    """``async with Gateway(settings) as gateway:`` serves until the block ends."""

    def __init__(self, settings: Settings, client: ShieldClient | None = None) -> None:
        self.settings = settings
        self.client = client or ShieldClient(settings)
        self._own_client = client is None
        self.stats = GatewayStats()
        self._slots = asyncio.Semaphore(settings.serve.max_concurrency)
        self._runner: web.AppRunner | None = None
        self._ready_at = 0.0
        self._ready: tuple[bool, str] = (False, "not checked yet")
        self.metrics: Any = None
        self.port: int | None = None

    # ------------------------------------------------------------------------- lifecycle

    def application(self) -> web.Application:
        limit = self.settings.input.max_event_bytes
        app = web.Application(
            client_max_size=MAX_BATCH_EVENTS * limit + 1024, middlewares=[self._middleware]
        )
        app.router.add_post("/v1/check", self.check)
        app.router.add_post("/v1/check/batch", self.check_batch)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        return app

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        if self._own_client:
            await self.client.start()
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        serve = self.settings.serve
        site = web.TCPSite(self._runner, serve.host, serve.port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ShieldError(
                f"cannot listen on {serve.host}:{serve.port}: {exc.strerror}"
            ) from None
        sockets = getattr(site, "_server", None)
        if sockets is not None and sockets.sockets:
            self.port = sockets.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._own_client:
            await self.client.close()

    # ------------------------------------------------------------------------- middleware

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        self.stats.requests += 1
        response: web.StreamResponse
        if request.path.startswith("/v1/"):
            refusal = self._authorize(request)
            if refusal is not None:
                response = refusal
            elif self._slots.locked():
                self.stats.overloaded += 1
                response = _error(
                    503, "overloaded", f"{self.settings.serve.max_concurrency} requests in flight"
                )
            else:
                async with self._slots:
                    response = await self._handle(request, handler)
        else:
            response = await handler(request)
        if response.status >= 400:
            self.stats.rejected += 1
            reason = getattr(response, "text", "") or ""
            log.warning(
                "%s %s -> %d %s (from %s)",
                request.method,
                request.path,
                response.status,
                _reason_of(reason),
                request.remote,
            )
        if self.metrics is not None:
            self.metrics.observe(request.path, response.status, time.perf_counter() - started)
        return response

    async def _handle(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "too_large", "the request body is over the size limit")

    def _authorize(self, request: web.Request) -> web.Response | None:
        token = self.settings.serve.token
        if not token:
            return None
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _error(401, "unauthorized", "a bearer token is required")
        if not hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode()):
            return _error(403, "forbidden", "the bearer token is not valid")
        return None

    # -------------------------------------------------------------------------- endpoints

    async def _body(self, request: web.Request, limit: int) -> bytes | web.Response:
        if request.content_length is not None and request.content_length > limit:
            return _error(413, "too_large", f"{request.content_length} bytes, the limit is {limit}")
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            return _error(413, "too_large", f"more than {limit} bytes, the limit is {limit}")
        return body

    def _event(self, data: Any, raw: bytes) -> dict[str, Any] | DeadLetter:
        """The worker's decoder decides what is valid; an HTTP event may leave out its id."""
        if isinstance(data, dict) and "id" not in data:
            data = {**data, "id": uuid.uuid4().hex}
            raw = orjson.dumps(data)
        decoded = decode_record(
            RawRecord(value=raw, source_topic="http"),
            max_event_bytes=self.settings.input.max_event_bytes,
            deadletter_raw_bytes=0,
            redact=self.settings.input.redact,
        )
        if isinstance(decoded, DeadLetter):
            return decoded
        return {
            "id": decoded.id,
            "text": decoded.text,
            "kind": decoded.kind,
            "tenant": decoded.tenant,
            "conversation_id": decoded.conversation_id,
            "metadata": decoded.metadata,
        }

    async def check(self, request: web.Request) -> web.Response:
        body = await self._body(request, self.settings.input.max_event_bytes)
        if isinstance(body, web.Response):
            return body
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
        event = self._event(data, body)
        if isinstance(event, DeadLetter):
            status = 413 if event.reason == "too_large" else 400
            return _error(status, event.reason, event.detail)
        results = await self._check([event])
        if isinstance(results, web.Response):
            return results
        return _json(results[0].raw)

    async def check_batch(self, request: web.Request) -> web.Response:
        limit = MAX_BATCH_EVENTS * self.settings.input.max_event_bytes
        body = await self._body(request, limit)
        if isinstance(body, web.Response):
            return body
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, "bad_json", str(exc))
        items = data.get("events") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            return _error(400, "missing_events", 'expected {"events": [event, ...]}')
        if len(items) > MAX_BATCH_EVENTS:
            return _error(413, "too_large", f"{len(items)} events, the limit is {MAX_BATCH_EVENTS}")
        events = []
        for index, item in enumerate(items):
            event = self._event(item, orjson.dumps(item))
            if isinstance(event, DeadLetter):
                return _error(400, event.reason, event.detail, index=index)
            events.append(event)
        results = await self._check(events)
        if isinstance(results, web.Response):
            return results
        return _json({"verdicts": [r.raw for r in results]})

    async def _check(self, events: list[dict[str, Any]]) -> list[Any] | web.Response:
        try:
            return await self.client.check_many(events)
        except CheckTimeout as exc:
            self.stats.timeouts += 1
            return _error(504, "timeout", str(exc))
        except CheckRejected as exc:
            return _error(400, exc.reason, exc.detail)
        except ShieldError as exc:
            return _error(503, "unavailable", str(exc))

    async def healthz(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """Ready when the broker takes a check and a worker answers it (cached a few seconds):
        a blank probe text is allowed by the workers without running a model."""
        now = time.monotonic()
        if now - self._ready_at > READY_CACHE_SECONDS:
            self._ready_at = now
            try:
                result = await self.client.check(
                    "",
                    event_id=f"readyz-{uuid.uuid4().hex}",
                    metadata={"probe": "readyz"},
                    timeout_seconds=2.0,
                )
                if result.timed_out:  # a client whose policy fails open or closed
                    self._ready = (False, "no worker answered within 2 s")
                else:
                    self._ready = (True, "a worker answered")
            except (CheckTimeout, CheckRejected, ShieldError) as exc:
                self._ready = (False, str(exc))
        ready, detail = self._ready
        return _json(
            {"status": "ready" if ready else "not ready", "detail": detail},
            status=200 if ready else 503,
        )


def _reason_of(body: str) -> str:
    try:
        return str(orjson.loads(body).get("reason", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return ""
