"""What machine a benchmark ran on, for the docs it writes (shared by the benchmark scripts)."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def write_head(path: Path, text: str) -> None:
    """Write ``text`` as the generated head of the doc at ``path``, keeping every section other scripts own.

    The head is what ``text`` holds: its title and its own ``## `` sections. The doc's first ``## `` section that
    ``text`` does not contain, and everything after it, is kept as it is.
    """
    import re

    own = set(re.findall(r"^## .*$", text, re.M))
    old = path.read_text() if path.exists() else ""
    kept = ""
    for match in re.finditer(r"^## .*$", old, re.M):
        if match.group(0) not in own:
            kept = old[match.start():]
            break
    path.write_text(text.rstrip("\n") + "\n" + ("\n" + kept.rstrip("\n") + "\n" if kept else ""))


def replace_section(path: Path, heading: str, text: str) -> None:
    """Replace the ``heading`` section of ``path`` (up to the next ``## `` heading or the end), else append ``text``."""
    import re

    old = path.read_text() if path.exists() else ""
    pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", old, count=1).rstrip("\n") + "\n"
    else:
        new = (old.rstrip("\n") + "\n\n" if old.strip() else "") + text.rstrip("\n") + "\n"
    path.write_text(new)


def shard_spec(text: str) -> tuple[int, int]:
    """argparse type of ``--shard I/N`` (``0 <= I < N``): a run that takes every N-th item from the I-th."""
    import argparse

    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected I/N such as 0/2, got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"expected 0 <= I < N, got {text!r}")
    return index, count
