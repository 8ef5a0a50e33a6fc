"""The shared test set-up: what every test gets without asking."""

from __future__ import annotations

import httpx

from tests.conftest import HTTP_TIMEOUT


def test_http_clients_wait_longer_than_httpx_default() -> None:
    """A client or a request that names no timeout waits 60 s, not httpx's 5 s; one that
    names its own keeps it."""
    assert HTTP_TIMEOUT.read == 60.0
    assert httpx.Client().timeout == HTTP_TIMEOUT
    assert httpx.AsyncClient().timeout == HTTP_TIMEOUT
    assert httpx.get.__kwdefaults__ is not None
    assert httpx.get.__kwdefaults__["timeout"] == HTTP_TIMEOUT
    assert httpx.Client(timeout=2).timeout == httpx.Timeout(2)
