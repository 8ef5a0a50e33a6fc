"""Issue 17: every operation of the OpenAPI document, fed hostile values in each parameter and
each body field (NUL bytes, integers past 64 bits, huge floats, deep nesting, long text),
answers without a server error, on SQLite and on PostgreSQL.

The values are chosen by hand rather than generated: they are the ones that broke the server
before (RecursionError, OverflowError, NUL on PostgreSQL), tried everywhere at once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.conftest import LiveServer

# Server-Sent Events streams never end; logout and password change would end the admin's use.
SKIP = {"/api/live", "/api/alerts/stream", "/api/auth/logout", "/api/auth/password"}
DEEP = 5_000
HOSTILE: list[Any] = [
    "a\x00b",
    2**90,
    -(2**90),
    1e308,
    "x" * 5_000,
    {"a": {"b": {"c": [[[["deep"]]]]}}},
    [None, True, "\x00"],
]
HOSTILE_TEXT = ["a\x00b", str(2**90), str(-(2**90)), "1e308", "x" * 2_000, "-1", "[]"]


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _body_fields(operation: dict[str, Any], spec: dict[str, Any]) -> list[str] | None:
    """The JSON body's field names, or None when the operation takes no JSON body."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = _resolve(content["application/json"].get("schema", {}), spec)
    return list(schema.get("properties", {})) or []


def _filled(path: str, names: list[str], value: str, at: str | None) -> str:
    """`path` with `value` for the parameter `at` and 1 for the others."""
    for name in names:
        path = path.replace("{" + name + "}", value if name == at else "1")
    return path


def _requests(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, httpx keyword arguments) for each hostile value in each place."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for path, item in spec["paths"].items():
        if path in SKIP or not (path.startswith("/api/") or path.startswith("/v1/")):
            continue
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
            in_path = [p["name"] for p in params if p["in"] == "path"]

            def url(
                value: str, at: str | None = None, path: str = path, in_path: list[str] = in_path
            ) -> str:
                return _filled(path, in_path, value, at)

            for param in params:
                for text in HOSTILE_TEXT:
                    if param["in"] == "path":
                        out.append((method, url(quote(text, safe=""), param["name"]), {}))
                    else:
                        out.append((method, url("1"), {"params": {param["name"]: text}}))
            fields = _body_fields(operation, spec)
            if fields is None:
                continue
            deep = b"[" * DEEP + b"]" * DEEP
            out.append((method, url("1"), {"content": deep}))
            out.append((method, url("1"), {"content": b'{"a": ' + str(2**90).encode() + b"}"}))
            for field in fields:
                for value in HOSTILE:
                    out.append((method, url("1"), {"json": {field: value}}))
    return out


def test_hostile_values_everywhere_cause_no_server_error(live_server: LiveServer) -> None:
    """Each hostile value in each parameter and body field of each operation is answered
    with a status below 500 (write key on /v1/*, the admin's token on /api/*)."""
    spec = httpx.get(live_server.url + "/openapi.json", timeout=60).json()
    requests = _requests(spec)
    assert len(requests) > 1_000
    errors: list[str] = []
    auth = {"/v1/": (live_server.write_key, "")}
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        for method, path, kwargs in requests:
            headers = {"content-type": "application/json"} if "content" in kwargs else {}
            if path.startswith("/api/"):
                headers.update(live_server.admin)
            response = client.request(
                method.upper(), path, headers=headers, auth=auth.get(path[:4]), **kwargs
            )
            if response.status_code >= 500:
                shown = {k: str(v)[:60] for k, v in kwargs.items()}
                errors.append(f"{method.upper()} {path[:80]} {shown}: {response.status_code}")
    assert errors == [], "\n".join(errors[:30])
