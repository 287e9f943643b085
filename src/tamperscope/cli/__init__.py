"""The ``tamperscope`` command: a thin shell over the Python API (``main`` holds the commands).

``results`` is the ``tamperscope results`` sub-app.
"""

from .main import app, main

__all__ = ["app", "main"]
