"""The web page and JSON API (FastAPI): app, typed schemas, routes, the static page. Runs on the
torch-free inference path; needs the serve extra."""

from .app import create_app

__all__ = ["create_app"]
