"""``tamperscope serve``: the web page and HTTP API (see :mod:`tamperscope.serve.app` and docs/api.md)."""

from .app import ConfigError, Settings, create_app

__all__ = ["ConfigError", "Settings", "create_app"]
