"""The HTTP edge: serves a built system (REST API, dashboard, live streams, `/metrics`)."""

from vigie.web.app import create_app

__all__ = ["create_app"]
