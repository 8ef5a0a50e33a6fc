"""Issue 17: event requests past `ingest.max_in_flight` are shed at once (503, Retry-After,
body unread), and the rest of the server is not held back by the bound."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry, Counter
from starlette.types import Receive, Scope, Send

from vigie.web.admission import IngestAdmission


class Held:
    """An ASGI app that answers 200 once released, after reading the whole body."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.read: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.read.append(body)
        if scope["method"] == "POST" and scope["path"].startswith("/v1/"):
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _deferred() -> Counter:
    return Counter("d", "d", ["endpoint"], registry=CollectorRegistry())


def test_requests_past_the_bound_get_503_with_retry_after() -> None:
    """With two event requests in progress and a bound of two, the third is answered 503
    with Retry-After without its body being read (its connection kept, the body being small);
    once they end, the next one is served."""
    held = Held()
    deferred = _deferred()
    app = IngestAdmission(held, max_in_flight=2, retry_after=3, deferred=deferred)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vigie") as client:
            first = asyncio.create_task(client.post("/v1/batch", content=b"a"))
            second = asyncio.create_task(client.post("/v1/track", content=b"b"))
            while held.entered < 2:
                await asyncio.sleep(0.01)
            shed = await client.post("/v1/batch", content=b"never read")
            assert shed.status_code == 503
            assert shed.headers["retry-after"] == "3"
            assert "ingest.max_in_flight" in shed.json()["error"]
            assert "connection" not in shed.headers  # a small body: the connection is kept
            assert b"never read" not in held.read
            api = await client.get("/api/contacts")  # not an event route: not bounded
            preflight = await client.options("/v1/batch")
            assert (api.status_code, preflight.status_code) == (200, 200)
            held.release.set()
            assert [(await t).status_code for t in (first, second)] == [200, 200]
            again = await client.post("/v1/batch", content=b"c")
            assert again.status_code == 200

    asyncio.run(scenario())
    assert deferred.labels("/v1/batch")._value.get() == 1


def test_the_server_is_built_with_the_configured_bound(tmp_path: object) -> None:
    """The app's middleware stack carries `ingest.max_in_flight` from vigie.yaml."""
    from tests.conftest import make_settings
    from vigie.config import Source, parse_config
    from vigie.system import build_system
    from vigie.web import create_app

    config = parse_config("ingest:\n  max_in_flight: 3\n  retry_after_seconds: 7\n")
    config.sources = [Source(name="web", write_key="k" * 20)]
    app = create_app(build_system(make_settings(f"sqlite:///{tmp_path}/v.db", config)))
    found = [m for m in app.user_middleware if m.cls is IngestAdmission]
    assert len(found) == 1
    assert (found[0].kwargs["max_in_flight"], found[0].kwargs["retry_after"]) == (3, 7)
