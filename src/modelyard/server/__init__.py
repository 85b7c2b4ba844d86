"""The HTTP server: FastAPI app factory, routers, auth and web UI (the server issue fills it)."""
