"""Training recipes of third-party files: repository, commit, path and SHA-256, never the files themselves.

Training images from public repositories are not committed. A recipe is a
CSV with one row per file::

    repository,commit,path,sha256,label,group,license
    drewnoakes/metadata-extractor-images,4beba64...,jpg/Apple iPhone 4.jpg,d4a7...,real,camera,free to use

``label`` is what the training uses the file as (``real``, ``ai``, ...),
``group`` a finer source (a camera, a generator) for per-group splits and
leave-one-group-out tests. :func:`materialize` rebuilds the files from local
clones of the repositories (``git clone`` then ``git checkout COMMIT``, or a
bare mirror) and refuses any whose digest differs.

>>> entry = RecipeEntry("owner/name", "0" * 40, "a/b.jpg", "0" * 64, "real", "camera", "CC0")
>>> entry.local_name
'owner+name/a/b.jpg'
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from ..errors import InputError

COLUMNS = ("repository", "commit", "path", "sha256", "label", "group", "license")


@dataclass(frozen=True)
class RecipeEntry:
    repository: str
    commit: str
    path: str
    sha256: str
    label: str
    group: str = ""
    license: str = ""

    @property
    def local_name(self) -> str:
        """Where :func:`materialize` puts the file, relative to its output folder."""
        return f"{self.repository.replace('/', '+')}/{self.path}"


def read_recipe(path: str | Path) -> list[RecipeEntry]:
    """The rows of a recipe CSV (:data:`COLUMNS`)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS[:5] if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"{path}: not a recipe (missing columns {', '.join(missing)})")
            return [RecipeEntry(**{c: row.get(c, "") or "" for c in COLUMNS}) for row in reader]
    except OSError as exc:
        raise InputError(f"cannot read recipe {path}: {exc.strerror or exc}") from None


def write_recipe(entries: Iterable[RecipeEntry], path: str | Path) -> None:
    """Write ``entries`` as a recipe CSV, sorted, so the same files give the same bytes."""
    rows = sorted(set(entries), key=lambda e: (e.label, e.group, e.repository, e.path))
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([f.name for f in fields(RecipeEntry)])
        writer.writerows(astuple(e) for e in rows)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_repository(clones: Path, repository: str) -> Path | None:
    """A local copy of ``repository`` under ``clones``: ``owner+name``, ``owner/name`` or ``name``, a work tree or a git dir."""
    owner, _, name = repository.partition("/")
    for candidate in (clones / f"{owner}+{name}", clones / owner / name, clones / name,
                      clones / f"{owner}+{name}" / "repo"):
        if (candidate / ".git").exists() or (candidate / "HEAD").is_file():
            return candidate
    return None


def read_blob(repo: Path, commit: str, path: str) -> bytes:
    """The bytes of ``path`` at ``commit`` in the git repository (work tree or git dir) ``repo``."""
    git_dir = repo / ".git" if (repo / ".git").exists() else repo
    result = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise InputError(f"{repo}: no {path} at {commit[:12]} ({result.stderr.decode(errors='replace').strip()})")
    return result.stdout


def materialize(entries: Iterable[RecipeEntry], clones: str | Path, out: str | Path,
                roots: Mapping[str, Path] | None = None) -> tuple[list[Path], list[str]]:
    """Write each entry's file under ``out`` from the clones under ``clones``; return (written, problems).

    ``roots`` may name the local copy of a repository directly. A file whose
    SHA-256 differs from the recipe's is not written (a problem is reported),
    so a recipe always rebuilds exactly the data it was made from.
    """
    clones, out = Path(clones), Path(out)
    written, problems = [], []
    for entry in entries:
        target = out / entry.local_name
        if target.is_file() and sha256_bytes(target.read_bytes()) == entry.sha256:
            written.append(target)
            continue
        repo = (roots or {}).get(entry.repository) or find_repository(clones, entry.repository)
        if repo is None:
            problems.append(f"{entry.repository}: no local clone under {clones}")
            continue
        try:
            data = read_blob(repo, entry.commit, entry.path)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if sha256_bytes(data) != entry.sha256:
            problems.append(f"{entry.repository}:{entry.path}: SHA-256 differs from the recipe")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    return written, problems
