"""Build a forgery dataset with exact masks from a folder of authentic photos."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage

from .. import __version__
from ..image import DEFAULT_LIMITS, _to_rgb
from . import kinds as _kinds
from .kinds import ALL_KINDS, JPEG_QUALITY, KINDS, PNG_SHARE, SUBSAMPLING, draw_save, encode

#: Photos whose short side (after the ``size`` cap) is below this are skipped.
MIN_SHORT_SIDE = 256
#: File suffixes taken from a folder of photos (case-insensitive).
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"})
SPLITS = ("train", "val", "test")
COLUMNS = ("image", "mask", "label", "kind", "source", "split", "params")
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Sample:
    """One row of ``manifest.csv``; paths are relative to the dataset folder."""

    image: str
    mask: str  # "" for authentic images
    label: str  # "authentic" or "tampered"
    kind: str
    source: str  # the host photo's name
    split: str  # "train", "val" or "test"
    params: dict = field(default_factory=dict)


@dataclass
class Manifest:
    """What :func:`make_dataset` wrote: the samples and the photos left out."""

    root: Path
    samples: list[Sample]
    skipped: list[dict] = field(default_factory=list)  # {"name": ..., "reason": ...}

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def path(self) -> Path:
        return self.root / "manifest.csv"

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    @classmethod
    def read(cls, root: str | os.PathLike) -> Manifest:
        """Read a dataset folder's ``manifest.csv`` (and ``recipe.json`` for the skipped photos)."""
        root = Path(root)
        with open(root / "manifest.csv", newline="", encoding="utf-8") as handle:
            samples = [
                Sample(**{**row, "params": json.loads(row["params"]) if row["params"] else {}})
                for row in csv.DictReader(handle)
            ]
        skipped = []
        if (root / "recipe.json").exists():
            skipped = json.loads((root / "recipe.json").read_text(encoding="utf-8")).get("skipped", [])
        return cls(root, samples, skipped)


@dataclass
class _Source:
    name: str
    path: Path
    sha256: str
    width: int
    height: int
    split: str = ""

    @property
    def key(self) -> int:
        return int(self.sha256[:8], 16)


# --------------------------------------------------------------------------
# Sources


def _collect(photos: Sequence[str | os.PathLike] | str | os.PathLike) -> list[tuple[str, Path]]:
    """(name, path) of every photo; a folder is searched recursively."""
    single = isinstance(photos, (str, os.PathLike))
    entries = [Path(photos)] if single else [Path(p) for p in photos]
    found: list[tuple[str, Path]] = []
    for entry in entries:
        if entry.is_dir():
            files = sorted(
                p for p in entry.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
            )
            prefix = "" if single else entry.name + "/"
            found += [(prefix + p.relative_to(entry).as_posix(), p) for p in files]
        else:
            found.append((entry.name, entry))
    found.sort(key=lambda item: item[0])  # the order photos are given in does not matter
    names: dict[str, int] = {}
    unique = []
    for name, path in found:
        names[name] = names.get(name, 0) + 1
        unique.append((name if names[name] == 1 else f"{name}~{names[name]}", path))
    return unique


def _capped(width: int, height: int, size: int | None) -> tuple[int, int]:
    if size is None or max(width, height) <= size:
        return width, height
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _scan(
    photos, size: int | None, seed: int, split: tuple[float, float, float]
) -> tuple[list[_Source], list[dict]]:
    sources: list[_Source] = []
    skipped: list[dict] = []
    seen: dict[str, str] = {}
    for name, path in _collect(photos):
        try:
            data = path.read_bytes()
        except OSError as exc:
            skipped.append({"name": name, "reason": f"unreadable ({exc.strerror or exc})"})
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            skipped.append({"name": name, "reason": f"same file content as {seen[digest]}"})
            continue
        try:
            with PILImage.open(io.BytesIO(data)) as pil:
                width, height = pil.size
        except Exception as exc:  # any decoder error means: not a photo we can use
            skipped.append({"name": name, "reason": f"not a readable image ({type(exc).__name__})"})
            continue
        if width * height > DEFAULT_LIMITS.max_pixels:
            skipped.append({"name": name, "reason": f"{width}x{height} is over the pixel limit"})
            continue
        short = min(_capped(width, height, size))
        if short < MIN_SHORT_SIDE:
            after = "" if (width, height) == _capped(width, height, size) else " after the size cap"
            skipped.append({"name": name, "reason": f"short side {short} px{after} is under {MIN_SHORT_SIDE} px"})
            continue
        seen[digest] = name
        sources.append(_Source(name, path, digest, width, height, split_of(digest, seed, split)))
    return sources, skipped


def split_of(sha256: str, seed: int, split: tuple[float, float, float]) -> str:
    """The split of a source photo: a hash of its content and the seed.

    ``u = int(sha256("tamperscope-synth-split:{seed}:{content sha256}")[:16], 16) / 2**64``
    falls in train when ``u < split[0]``, in val when ``u < split[0] + split[1]``,
    else in test. Every image made from a host photo goes to that photo's split;
    the same photo under another name goes to the same split, and adding photos
    never moves the others.
    """
    u = int(hashlib.sha256(f"tamperscope-synth-split:{seed}:{sha256}".encode()).hexdigest()[:16], 16) / 2**64
    edges = np.cumsum(split)
    for name, edge in zip(SPLITS, edges):
        if u < edge:
            return name
    return SPLITS[-1]


def _decode(source: _Source, size: int | None) -> np.ndarray:
    data = source.path.read_bytes()
    if hashlib.sha256(data).hexdigest() != source.sha256:
        raise RuntimeError(f"{source.name} changed while the dataset was being made")
    with PILImage.open(io.BytesIO(data)) as pil:
        pil.load()
        pixels = _to_rgb(pil)  # stored orientation: EXIF rotation is not applied
    width, height = _capped(pixels.shape[1], pixels.shape[0], size)
    if (width, height) != (pixels.shape[1], pixels.shape[0]):
        pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels)


class _PhotoCache:
    def __init__(self, size: int | None, capacity: int = 6):
        self.size, self.capacity = size, capacity
        self.items: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, source: _Source) -> np.ndarray:
        if source.sha256 in self.items:
            self.items.move_to_end(source.sha256)
        else:
            self.items[source.sha256] = _decode(source, self.size)
            if len(self.items) > self.capacity:
                self.items.popitem(last=False)
        return self.items[source.sha256]


# --------------------------------------------------------------------------
# The plan


def plan(n_kinds: int, n_photos: int, count: int) -> list[tuple[int, int, int]]:
    """(kind index, photo index, occurrence) of each image.

    Image ``i`` has kind ``i mod K`` and host photo ``(i + floor(i / lcm(K, P))) mod P``:
    kinds stay balanced, every photo is used before any is reused, and every
    (kind, photo) pair occurs once before any occurs twice. ``occurrence``
    counts earlier images with the same pair. The plan of a smaller ``count``
    is a prefix of a larger one's.
    """
    period = math.lcm(n_kinds, n_photos)
    seen: dict[tuple[int, int], int] = {}
    jobs = []
    for i in range(count):
        pair = (i % n_kinds, (i + i // period) % n_photos)
        seen[pair] = seen.get(pair, 0) + 1
        jobs.append((*pair, seen[pair] - 1))
    return jobs


def _stream(seed: int, kind: str, source: _Source, occurrence: int) -> list[np.random.Generator]:
    """Three generators (recipe, final save, donor choice) for one image.

    Keyed by the seed, the kind's name, the host photo's content and the
    occurrence, not by the image's position: the same (kind, photo, occurrence)
    gives the same image whatever other kinds or photos are in the run.
    """
    sequence = np.random.SeedSequence(seed, spawn_key=(zlib.crc32(kind.encode()), source.key, occurrence))
    return [np.random.default_rng(child) for child in sequence.spawn(3)]


# --------------------------------------------------------------------------
# The builder


def make_dataset(
    photos: Sequence[str | os.PathLike] | str | os.PathLike,
    out: str | os.PathLike,
    *,
    count: int | None = None,
    seed: int = 0,
    kinds: Iterable[str] = ALL_KINDS,
    size: int | None = 1024,
    split: Sequence[float] = (0.7, 0.15, 0.15),
    progress: Callable[[int, int], None] | None = None,
    overwrite: bool = False,
) -> Manifest:
    """Make forgeries with exact masks (and authentic controls) from authentic photos.

    Parameters
    ----------
    photos : path or list of paths
        Photo files, or folders searched recursively for .jpg .jpeg .png .tif
        .tiff .webp .bmp. A photo is named by its path relative to the folder
        given (``folder/relative`` when a list holds folders), by its file name
        when given as a file. Unreadable files, duplicates (same content), and
        photos whose short side is under 256 px after the ``size`` cap are
        skipped; each is listed with its reason in ``Manifest.skipped`` and
        ``recipe.json``.
    out : path
        The dataset folder (created). Refused when it already holds a dataset,
        unless ``overwrite``.
    count : int, optional
        Number of images. Default: one per (kind, photo) pair.
    seed : int
        Everything random follows from it: the same photos, arguments and seed
        give byte-identical files (with the same library versions, recorded in
        ``recipe.json``).
    kinds : iterable of str, or a comma-separated str
        Kinds to make, cycled in order (see :data:`ALL_KINDS`); a kind listed
        twice gets twice the images (e.g. more ``authentic`` controls).
    size : int or None
        Long-side cap in pixels: larger photos are downscaled (``INTER_AREA``)
        before anything else; None keeps every photo's size.
    split : (train, val, test)
        Shares of source photos per split (see :func:`split_of`).
    progress : callable(done, total), optional
        Called after each image.
    overwrite : bool
        Replace the dataset already in ``out`` (only its ``images/``,
        ``masks/``, ``manifest.csv`` and ``recipe.json`` are removed).

    Returns
    -------
    Manifest
    """
    out = Path(out)
    kinds = [k.strip() for k in kinds.split(",")] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}" if unknown else "no kinds")
    split = tuple(float(s) for s in split)
    if len(split) != 3 or min(split) < 0 or not math.isclose(sum(split), 1.0, abs_tol=1e-6):
        raise ValueError(f"split must be three non-negative shares adding up to 1, got {split}")
    if size is not None and size < MIN_SHORT_SIDE:
        raise ValueError(f"size must be at least {MIN_SHORT_SIDE} px (or None), got {size}")
    if count is not None and count < 0:
        raise ValueError(f"count must be >= 0, got {count}")

    sources, skipped = _scan(photos, size, seed, split)
    if not sources:
        raise ValueError("no usable photo" + (f" ({len(skipped)} skipped)" if skipped else ""))
    if len(sources) < 2 and any(KINDS[k].needs_donor for k in kinds):
        raise ValueError("splice needs at least two usable photos (the donor must be another photo)")
    total = len(sources) * len(kinds) if count is None else count
    _prepare(out, overwrite)

    # Authentic controls draw PNG at the share the tampered images get overall, since the
    # double-JPEG kinds must end as JPEG (see the module docstring of tamperscope.synth).
    tampered = [k for k in kinds if KINDS[k].label == "tampered"]
    free = [k for k in tampered if not KINDS[k].jpeg_only]
    control_png = PNG_SHARE * len(free) / len(tampered) if tampered else PNG_SHARE

    cache = _PhotoCache(size)
    jobs = plan(len(kinds), len(sources), total)
    samples: list[Sample | None] = [None] * total
    width = max(6, len(str(max(total - 1, 0))))
    # Made host by host so that each host is decoded once; every image depends only on its
    # own generators, so the order of work changes no byte.
    # A kind listed twice must not repeat its draws: count occurrences by kind name.
    occurrences, seen = [], Counter()
    for k, p, _ in jobs:
        seen[kinds[k], p] += 1
        occurrences.append(seen[kinds[k], p] - 1)
    order = sorted(range(total), key=lambda i: (jobs[i][1], i))
    for done, index in enumerate(order, start=1):
        k, p, _ = jobs[index]
        occurrence = occurrences[index]
        samples[index] = _make_one(
            out, index, width, KINDS[kinds[k]], sources[p], occurrence, sources, cache, seed, control_png
        )
        if progress is not None:
            progress(done, total)

    manifest = Manifest(out, samples, skipped)
    _write_manifest(manifest)
    _write_recipe(out, manifest, sources, seed=seed, count=count, kinds=kinds, size=size, split=split,
                  control_png=control_png)
    return manifest


def _make_one(
    out: Path,
    index: int,
    width: int,
    kind: _kinds.Kind,
    host: _Source,
    occurrence: int,
    sources: list[_Source],
    cache: _PhotoCache,
    seed: int,
    control_png: float,
) -> Sample:
    recipe_rng, save_rng, donor_rng = _stream(seed, kind.name, host, occurrence)
    photo = cache.get(host)
    extra: dict = {}
    donor = None
    if kind.needs_donor:
        others = [s for s in sources if s is not host]
        same = [s for s in others if s.split == host.split]
        pool = same or others
        chosen = pool[int(donor_rng.integers(len(pool)))]
        donor = cache.get(chosen)
        extra["donor"] = chosen.name
        if not same:
            extra["donor_split"] = chosen.split
    pixels, mask, params, save = kind.make(recipe_rng, photo, donor)
    if save is None:
        save = draw_save(save_rng, control_png if kind.label == "authentic" else PNG_SHARE)
    stem = f"{index:0{width}d}-{kind.name}"
    image_name = f"images/{stem}.{'png' if save['format'] == 'PNG' else 'jpg'}"
    (out / image_name).write_bytes(encode(pixels, save))
    mask_name = ""
    if kind.label == "tampered":
        mask_name = f"masks/{stem}.png"
        PILImage.fromarray(mask.astype(np.uint8) * 255).save(out / mask_name, format="PNG")
    params = {**params, **extra, "save": save, "size": [int(photo.shape[0]), int(photo.shape[1])]}
    if (photo.shape[0], photo.shape[1]) != (host.height, host.width):
        params["resized_from"] = [host.height, host.width]
    return Sample(image_name, mask_name, kind.label, kind.name, host.name, host.split, params)


def _prepare(out: Path, overwrite: bool) -> None:
    images, masks = out / "images", out / "masks"
    existing = (out / "manifest.csv").exists() or any(
        folder.is_dir() and any(folder.iterdir()) for folder in (images, masks)
    )
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds a dataset (pass overwrite=True to replace it)")
    if existing:
        for folder in (images, masks):
            if folder.is_dir():
                for item in folder.iterdir():
                    if item.is_file() and item.suffix.lower() in {".jpg", ".png"}:
                        item.unlink()
        for name in ("manifest.csv", "recipe.json"):
            (out / name).unlink(missing_ok=True)
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)


def _compact(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _write_manifest(manifest: Manifest) -> None:
    with open(manifest.path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for s in manifest.samples:
            writer.writerow([s.image, s.mask, s.label, s.kind, s.source, s.split, _compact(s.params)])


def _write_recipe(out: Path, manifest: Manifest, sources: list[_Source], *, control_png: float, **arguments) -> None:
    import PIL

    counts: dict[str, dict[str, int]] = {}
    for s in manifest.samples:
        counts.setdefault(s.kind, {name: 0 for name in SPLITS})[s.split] += 1
    recipe = {
        "generator": "tamperscope.synth",
        "format_version": FORMAT_VERSION,
        "tamperscope_version": __version__,
        "libraries": {"numpy": np.__version__, "opencv": cv2.__version__, "pillow": PIL.__version__},
        "seed": arguments["seed"],
        "arguments": {
            "count": arguments["count"],
            "kinds": arguments["kinds"],
            "size": arguments["size"],
            "split": list(arguments["split"]),
        },
        "final_save": {
            "png_share": PNG_SHARE,
            "png_share_authentic": round(control_png, 6),
            "jpeg_quality": list(JPEG_QUALITY),
            "subsampling": SUBSAMPLING,
            "forced_jpeg_kinds": [k for k in ALL_KINDS if KINDS[k].jpeg_only],
        },
        "min_short_side": MIN_SHORT_SIDE,
        "min_changed_share": _kinds.MIN_CHANGED,
        "mask_convention": (
            "8-bit PNG, 255 = manipulated, none for authentic; copy-move marks the pasted target only "
            "(params.source_bbox gives the source); feathered edges: alpha > 0.5"
        ),
        "split_rule": (
            "u = int(sha256('tamperscope-synth-split:{seed}:{photo sha256}')[:16], 16) / 2**64; "
            "train if u < train share, val if u < train + val shares, else test"
        ),
        "images": len(manifest.samples),
        "counts": counts,
        "sources": [
            {"name": s.name, "sha256": s.sha256, "width": s.width, "height": s.height, "split": s.split}
            for s in sources
        ],
        "skipped": manifest.skipped,
    }
    (out / "recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n", encoding="utf-8")
