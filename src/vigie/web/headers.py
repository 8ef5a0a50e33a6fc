"""Security headers on every response, and the optional guard of `/metrics` and `/docs`.

The dashboard runs no inline script (its pages load `/static/*.js`; the page's data sits in
a `type="application/json"` block, which is never executed), so its Content Security
Policy allows scripts from the server only. Swagger UI (`/docs`) starts itself with an
inline script: those pages alone allow it.
"""

from __future__ import annotations

import ipaddress
import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigie.config import HttpSettings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
"""The dashboard's policy. Styles may be inline: the charts (Plotly) set them on elements."""
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
"""The policy of the Swagger UI pages, which start with an inline script."""
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
OPS_PATHS = frozenset({"/metrics", "/openapi.json", *DOCS_PATHS})
"""What `http.ops_token` and `http.ops_allow` protect."""
HSTS = "max-age=31536000; includeSubDomains"

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def behind_tls(scope: Scope) -> bool:
    """Whether the client reached us over HTTPS: directly, or through a proxy that says so."""
    if scope.get("scheme") == "https":
        return True
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            return bytes(value).split(b",")[0].strip().lower() == b"https"
    return False


class SecurityHeaders:
    """Adds CSP (with `frame-ancestors`), X-Frame-Options, nosniff, Referrer-Policy and, over
    TLS, Strict-Transport-Security to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_CSP if scope["path"] in DOCS_PATHS else CSP
        extra = [*_COMMON, (b"content-security-policy", policy.encode())]
        if behind_tls(scope):
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class OpsGuard:
    """Lets `/metrics`, `/docs` and `/openapi.json` through only to the ops token or an
    allowed address, when `http.ops_token` or `http.ops_allow` is set (401 otherwise)."""

    def __init__(self, app: ASGIApp, *, settings: HttpSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in OPS_PATHS or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        body = (
            b'{"detail":"this page needs the ops token (Authorization: Bearer) or an allowed '
            b"address; see http.ops_token / page reservee a l'exploitation\"}"
        )
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="vigie-ops"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _allowed(self, scope: Scope) -> bool:
        settings = self.settings
        if settings.ops_token is None and not settings.ops_allow:
            return True
        if settings.ops_token is not None:
            for name, value in scope["headers"]:
                if name == b"authorization":
                    scheme, _, given = value.decode("latin-1").partition(" ")
                    if scheme.lower() == "bearer" and secrets.compare_digest(
                        given.strip().encode(), settings.ops_token.encode()
                    ):
                        return True
        client = scope.get("client")
        if not client or not settings.ops_allow:
            return False
        try:
            address = ipaddress.ip_address(client[0])
        except ValueError:
            return False
        return any(
            address in ipaddress.ip_network(entry, strict=False) for entry in settings.ops_allow
        )
