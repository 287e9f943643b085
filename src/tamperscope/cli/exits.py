"""Exit codes and error handling shared by the ``tamperscope`` command and its sub-apps.

Exit codes: 0 done (whatever the verdict); 1 internal error (a bug: please report it); 2 bad input (unreadable,
unsupported, truncated, too large) or bad usage. Errors are one line on stderr, never a traceback (set
``TAMPERSCOPE_DEBUG=1`` to see one). Below :mod:`.main` and :mod:`.results`, so both take them from here.
"""

from __future__ import annotations

import os

import typer

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def fail(message: str, code: int) -> None:
    """Print ``tamperscope: error: MESSAGE`` on stderr and exit with ``code``."""
    typer.echo(f"tamperscope: error: {message}", err=True)
    raise typer.Exit(code)


def guarded(action):
    """Run ``action`` mapping errors to one stderr line and the documented exit code."""
    from ..errors import InputError

    try:
        return action()
    except InputError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except Exception as exc:  # the shell's last line of defence: no traceback for users
        if os.environ.get("TAMPERSCOPE_DEBUG"):
            raise
        fail(f"internal error ({type(exc).__name__}: {exc}); rerun with TAMPERSCOPE_DEBUG=1 and report it", EXIT_INTERNAL)
