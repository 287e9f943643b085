"""The ``tamperscope`` command: a thin shell over the Python API (``main`` holds the commands).

``results`` is the ``tamperscope results`` sub-app. The command's process keeps freed memory for its next large
array (:mod:`.memory`), set before numpy is first imported.
"""

from .memory import keep_freed_memory

keep_freed_memory()

from .main import app, main  # noqa: E402  (after the memory settings)

__all__ = ["app", "main"]
