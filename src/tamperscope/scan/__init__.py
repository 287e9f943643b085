"""Scanning collections: stream files, skip what is done, analyse the rest, keep every result.

:func:`scan` walks the given files and folders lazily (never listing a tree in
memory), identifies each file by the SHA-256 of its bytes, skips contents the
store already holds (a rerun resumes) or that are in flight, and hands the rest
to a backend (:class:`~tamperscope.scan.local.LocalBackend` by default, Ray
when asked). Each result is committed to the :class:`ResultStore` as soon as it
arrives, after its previews (:mod:`~tamperscope.scan.previews`: a 320-pixel
thumbnail, with the heatmap and a mask where the analysis found a region) are
written to the folder beside the store.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .previews import default_folder, save_previews
from .store import ResultStore, Row

#: File endings a scan considers; other files are passed over (and counted).
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".heic", ".heif",
                            ".avif"})


@dataclass
class ScanSummary:
    seen: int = 0
    analysed: int = 0
    already_done: int = 0
    duplicates: int = 0
    errors: int = 0
    unreadable: list[str] = field(default_factory=list)
    #: Previews that could not be written (the folder full or read-only): "path: why".
    preview_errors: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)


def iter_files(paths: Iterable[str | Path], recursive: bool = False) -> Iterator[Path]:
    """Image files under ``paths``, depth first, each folder in name order, never listed whole."""
    for root in paths:
        root = Path(root)
        if root.is_dir():
            yield from _walk(root, recursive)
        elif root.suffix.lower() in IMAGE_SUFFIXES or root.is_file():
            yield root


def _walk(folder: Path, recursive: bool) -> Iterator[Path]:
    try:
        with os.scandir(folder) as handle:
            names = sorted(entry.name for entry in handle)
    except OSError:
        return
    for name in names:
        path = folder / name
        if name.startswith("."):
            continue
        if path.is_dir():
            if recursive and not path.is_symlink():
                yield from _walk(path, recursive)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            yield path


def count_files(paths: Iterable[str | Path], recursive: bool = False) -> int:
    """How many files a scan will see (a cheap first pass for the progress bar)."""
    return sum(1 for _ in iter_files(paths, recursive))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def scan(
    paths: Iterable[str | Path],
    store: ResultStore,
    *,
    recursive: bool = False,
    workers: int = 1,
    profile: str = "default",
    artifacts: str | Path | None = None,
    previews: bool = True,
    timeout_s: float = 300.0,
    memory_mb: int | None = 4096,
    ray: str | None = None,
    limits: dict[str, Any] | None = None,
    on_progress: Callable[[ScanSummary], None] | None = None,
) -> ScanSummary:
    """Scan ``paths`` into ``store``; returns what happened.

    Parameters
    ----------
    artifacts : path or None
        Folder for the previews; None: the folder the store already uses, else
        ``<store>.artifacts`` beside it. A store keeps one folder: another one
        is an :class:`~tamperscope.errors.InputError`.
    previews : bool
        False writes no previews (the rows are the same).
    workers : int
        Worker processes (local) or concurrent tasks (Ray).
    timeout_s : float
        Per-image wall-time limit; a file past it is recorded as a timeout.
    memory_mb : int or None
        Address-space cap per local worker (Ray: memory requested per task).
    ray : str or None
        None for the local pool; "auto" or a cluster address for Ray.
    """
    folder = previews_folder(store, artifacts) if previews else None
    if folder is not None:
        store.set_artifacts_folder(folder)
    settings = {"profile": profile, "previews": folder is not None, "memory_mb": memory_mb,
                "limits": dict(limits or {})}
    if ray:
        from .ray_backend import RayBackend

        backend: Any = RayBackend(ray, workers, settings, timeout_s=timeout_s)
    else:
        from .local import LocalBackend

        backend = LocalBackend(workers, settings, timeout_s=timeout_s)

    summary = ScanSummary()
    in_flight: set[str] = set()

    def tasks() -> Iterator[tuple[str, str]]:
        for path in iter_files(paths, recursive):
            summary.seen += 1
            try:
                sha256 = file_sha256(path)
            except OSError as exc:
                summary.unreadable.append(f"{path}: {exc.strerror or exc}")
                summary.errors += 1
                _notify()
                continue
            if store.is_done(sha256):
                store.add_path(str(path), sha256)
                summary.already_done += 1
                _notify()
                continue
            if sha256 in in_flight:
                store.add_path(str(path), sha256)
                summary.duplicates += 1
                _notify()
                continue
            in_flight.add(sha256)
            yield str(path), sha256

    def on_result(row: Row) -> None:
        preview = None
        if folder is not None and row.status == "done" and row.previews:
            try:
                if "error" in row.previews:
                    summary.preview_errors.append(f"{row.path}: {row.previews['error']}")
                else:
                    preview = save_previews(folder, row.sha256, row.previews)
            except OSError as exc:  # the row is the result; a preview that cannot be written is noted, not fatal
                summary.preview_errors.append(f"{row.path}: {exc.strerror or exc}")
        row.previews = None
        store.record(row, preview)
        in_flight.discard(row.sha256)
        summary.analysed += 1
        if row.status == "error":
            summary.errors += 1
        else:
            summary.labels[row.label or ""] = summary.labels.get(row.label or "", 0) + 1
        _notify()

    def _notify() -> None:
        if on_progress:
            on_progress(summary)

    backend.run(tasks(), on_result)
    return summary


def previews_folder(store: ResultStore, artifacts: str | Path | None = None) -> Path:
    """The folder a scan into ``store`` writes previews to (see :func:`scan`); checks it can be a folder."""
    kept = store.artifacts_folder()
    folder = Path(artifacts) if artifacts is not None else kept or default_folder(store.path)
    if kept is not None and artifacts is not None and os.path.abspath(kept) != os.path.abspath(folder):
        raise InputError(f"this store keeps its previews in {kept}; scan again with --artifacts {kept} "
                         "(or without --artifacts)")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"cannot keep previews in {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make the previews folder {folder}: {exc.strerror or exc}") from None
    return folder


__all__ = ["IMAGE_SUFFIXES", "ResultStore", "Row", "ScanSummary", "count_files", "file_sha256", "iter_files",
           "previews_folder", "scan"]
