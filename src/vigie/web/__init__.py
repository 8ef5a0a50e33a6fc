"""The web edge: app factory, REST API, dashboard and `/metrics`."""

from vigie.web.app import create_app
from vigie.web.runtime import Runtime

__all__ = ["Runtime", "create_app"]
