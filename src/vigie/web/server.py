"""Running the app on uvicorn: in the foreground (`vigie serve`) or in a thread (`vigie demo`)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from vigie.web.tuning import ProcessTuning
from vigie.web.ui import compile_templates, served_paths


def uvicorn_config(
    app: FastAPI, *, host: str, port: int, log_level: str = "info", own_logging: bool = False
) -> uvicorn.Config:
    """The uvicorn settings Vigie runs with (uvloop and httptools when installed);
    `own_logging` leaves the logging `vigie.logs.configure_logging` set up as it is."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None if own_logging else uvicorn.config.LOGGING_CONFIG,
        access_log=False,
        loop="auto",
        http="auto",
        timeout_keep_alive=30,
        # Chat frames are a few hundred bytes: compressing them saves nothing on the wire and
        # costs a zlib context per open widget (most of its memory) and CPU on every push.
        ws_per_message_deflate=False,
        # Open live streams (SSE) must not hold a stopping server forever.
        timeout_graceful_shutdown=3,
    )


def warm_up(app: FastAPI) -> None:
    """Build now what the first requests would otherwise build, for a server that owns its
    process: FastAPI prepares a route's dependencies and validators on its first match, and
    the dashboard its list of APIs and its templates on the first page. That is a second of
    CPU or more, which the first page used to pay after a start; under an ingest flood it
    held that page and, holding the interpreter, every other request for seconds (issue 17).
    """
    served_paths(app)
    compile_templates()


class Server(uvicorn.Server):
    """uvicorn's server, which ends the app's live streams before waiting for connections.

    Without this, an open dashboard (a never-ending SSE response) would hold the shutdown.
    With `tuning`, the process's garbage collector and thread switching are tuned for latency
    once the app has started (for a server that owns its process: not one serving from a
    thread of another program).
    """

    def __init__(self, config: uvicorn.Config, *, tuning: ProcessTuning | None = None):
        super().__init__(config)
        self.tuning = tuning

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.tuning is not None and not self.should_exit:
            self.tuning.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.tuning is not None:
            self.tuning.stop()
        system = getattr(getattr(self.config.app, "state", None), "system", None)
        if system is not None:
            system.end_streams()
        await super().shutdown(sockets)


class BackgroundServer:
    """Serve `app` from a thread; the context manager warms the app up (as `vigie serve` does,
    so the first request is not the slow one) and waits until it accepts connections."""

    def __init__(self, app: FastAPI, *, host: str = "127.0.0.1", port: int = 8000) -> None:
        self.app = app
        self.server = Server(uvicorn_config(app, host=host, port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="vigie-server", daemon=True)
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        warm_up(self.app)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"the server could not start on {self.url}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.url} within 30 s")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
