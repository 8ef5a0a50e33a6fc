"""Structured logs: JSON or console lines with time, level, logger and the request id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
import structlog

from tests.conftest import LiveServer
from vigie.logs import configure_logging


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream the logs go to for one test; the logging set-up is restored after it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_time_level_and_logger(stream: io.StringIO) -> None:
    """A standard-library line and a structlog line are both one JSON object with the
    timestamp (UTC), the level and the logger's name."""
    configure_logging("json", stream=stream)
    logging.getLogger("vigie.rules.alertmanager").warning("refused %d alerts", 3)
    structlog.get_logger("vigie.sources").info("delivery", source="payments")
    first, second = _lines(stream)
    assert first["event"] == "refused 3 alerts"
    assert (first["level"], first["logger"]) == ("warning", "vigie.rules.alertmanager")
    assert str(first["timestamp"]).endswith("Z")
    assert (second["event"], second["source"], second["level"]) == ("delivery", "payments", "info")


def test_console_lines_are_readable_and_levels_filter(stream: io.StringIO) -> None:
    """The console form shows the level and the message; lines below the level are dropped."""
    configure_logging("console", level="warning", stream=stream)
    logging.getLogger("vigie.x").info("quiet")
    logging.getLogger("vigie.x").error("loud")
    text = stream.getvalue()
    assert "loud" in text and "error" in text and "quiet" not in text


def test_requests_get_an_id_in_the_answer_and_the_logs(
    live_server: LiveServer, stream: io.StringIO
) -> None:
    """A sane X-Request-ID is kept, another replaced by a new id; the request's log line
    carries the id the answer names."""
    configure_logging("json", level="debug", stream=stream)
    given = httpx.get(f"{live_server.url}/healthz", headers={"X-Request-ID": "support-4521"})
    assert given.headers["x-request-id"] == "support-4521"
    hostile = httpx.get(f"{live_server.url}/healthz", headers={"X-Request-ID": "a b" * 100})
    made = hostile.headers["x-request-id"]
    assert len(made) == 32 and " " not in made
    lines = [line for line in _lines(stream) if line.get("logger") == "vigie.requests"]
    ids = {line["request_id"]: line for line in lines}
    assert ids["support-4521"]["status"] == 200
    assert ids["support-4521"]["event"] == "GET /healthz 200"
    assert made in ids


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_refuse_an_unknown_log_format(command: str) -> None:
    """`--log-format` and `--log-level` name their choices instead of starting."""
    from typer.testing import CliRunner

    from vigie.cli import app

    result = CliRunner().invoke(app, [command, "--log-format", "xml"])
    assert result.exit_code == 2
    assert "console, json" in result.output
    result = CliRunner().invoke(app, [command, "--log-level", "loud"])
    assert result.exit_code == 2 and "debug, info, warning" in result.output
