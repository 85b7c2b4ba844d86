"""The HTTP server: a FastAPI app built by ``create_app`` (no module globals), REST API v1,
authentication, audit trail and the web UI."""

from modelyard.server.app import ServerConfig, create_app

__all__ = ["ServerConfig", "create_app"]
