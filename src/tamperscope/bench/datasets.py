"""Dataset adapters: the published forensic benchmarks as streams of :class:`Sample`.

Each adapter knows one published on-disk layout and turns it into samples with
a stable id (the path relative to the dataset root), the image, the mask (or
``None`` where the set has none, or it was not downloaded: every adapter also
works for detection only), the label (1 tampered, 0 authentic), the mask
convention, the manipulation type where the set says it, and the split.

Open one with :func:`open_dataset` and a ``KIND:PATH`` spec (``casia1:/data/CASIA1``,
``csv:/x/manifest.csv``, ``folder:/x``); :data:`ADAPTERS` lists the kinds. A
dataset that is not there, or whose layout is not found, raises
:class:`DatasetNotFound` with one line saying what was expected where.

Samples are streamed: folders are listed one at a time and sorted by name so
that the order is the same on every machine; manifests are read row by row in
file order. Only the small indexes needed to pair masks with images (one
folder of mask names) are held in memory.

Masks are read with :func:`load_mask`, which applies the sample's convention:

* ``white-tampered``: grey level above 127 is manipulated (most sets);
* ``black-tampered``: grey level 127 or below is manipulated (NIST NC2016, DSO-1);
* ``green-tampered``: Columbia's colour-coded edge masks, where the spliced
  region is green and the authentic region red (see :class:`Columbia`);
* ``nonblack-tampered``: a colour mask on black (CoMoFoD's ``_M`` masks, used
  only when the binary ``_B`` mask is absent).

Each adapter's docstring says which published description the layout follows
and which parts could not be checked against the files themselves.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import InputError
from .metrics import load_mask as grey_mask

__all__ = [
    "ADAPTERS",
    "BLACK_TAMPERED",
    "GREEN_TAMPERED",
    "MASK_CONVENTIONS",
    "NONBLACK_TAMPERED",
    "WHITE_TAMPERED",
    "BadDatasetSpec",
    "BadManifest",
    "Dataset",
    "DatasetNotFound",
    "Sample",
    "load_mask",
    "open_dataset",
]

WHITE_TAMPERED = "white-tampered"
BLACK_TAMPERED = "black-tampered"
GREEN_TAMPERED = "green-tampered"
NONBLACK_TAMPERED = "nonblack-tampered"
#: Every mask convention a :class:`Sample` may carry (see :func:`load_mask`).
MASK_CONVENTIONS = (WHITE_TAMPERED, BLACK_TAMPERED, GREEN_TAMPERED, NONBLACK_TAMPERED)

#: File name extensions taken as images when a folder is scanned.
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".heic", ".heif", ".avif"}
)


class DatasetNotFound(InputError):
    """The dataset folder is missing, or its published layout is not found in it."""

    kind = "dataset-not-found"


class BadDatasetSpec(InputError):
    """A dataset spec that is not ``KIND:PATH`` with a known kind."""

    kind = "bad-dataset-spec"


class BadManifest(InputError):
    """A manifest row that cannot be read (missing column, unknown label or convention)."""

    kind = "bad-manifest"


@dataclass(frozen=True)
class Sample:
    """One image of a dataset.

    Attributes
    ----------
    id : str
        Stable identifier: the image path relative to the dataset root (POSIX
        separators), or the path as written in the manifest.
    image : Path
    mask : Path or None
        Ground-truth mask; ``None`` for authentic images and where the set (or
        the copy on disk) has no mask for this image.
    label : int
        1 tampered (or synthetic), 0 authentic.
    mask_convention : str
        How to read ``mask``; one of :data:`MASK_CONVENTIONS`.
    kind : str
        Manipulation type when the dataset says it ("splicing", "copy-move", ...), else "".
    split : str
        The dataset's own split when it has one, else "".
    """

    id: str
    image: Path
    mask: Path | None
    label: int
    mask_convention: str = WHITE_TAMPERED
    kind: str = ""
    split: str = ""


def load_mask(sample: Sample | str | os.PathLike, convention: str | None = None) -> np.ndarray:
    """Read a ground-truth mask as a boolean array (True = manipulated).

    Parameters
    ----------
    sample : Sample or path
        A sample with a mask, or the path of a mask file.
    convention : str, optional
        Overrides the sample's convention; required with a bare path unless
        the mask is white-tampered.

    Raises
    ------
    InputError
        The sample has no mask, the convention is unknown, or the file cannot be read.
    """
    from PIL import Image as PILImage

    if isinstance(sample, Sample):
        if sample.mask is None:
            raise InputError(f"{sample.id}: this sample has no mask")
        path, convention = sample.mask, convention or sample.mask_convention
    else:
        path, convention = Path(sample), convention or WHITE_TAMPERED
    if convention not in MASK_CONVENTIONS:
        raise InputError(f"unknown mask convention {convention!r}; valid: {', '.join(MASK_CONVENTIONS)}")
    try:
        if convention in (WHITE_TAMPERED, BLACK_TAMPERED):
            return grey_mask(path, convention)
        with PILImage.open(path) as pil:
            rgb = np.asarray(pil.convert("RGB"), dtype=np.int16)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: mask cannot be read ({exc})") from None
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if convention == GREEN_TAMPERED:
        return (green > 100) & (green > red) & (green > blue)
    return rgb.max(axis=2) > 63


# ----------------------------------------------------------------------------------------------
# Listing helpers


def _visible(name: str) -> bool:
    return not name.startswith(".") and name not in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _is_image(name: str) -> bool:
    return _visible(name) and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _entries(directory: Path) -> list[os.DirEntry]:
    """Visible entries of ``directory`` sorted by name (empty if it cannot be listed)."""
    try:
        with os.scandir(directory) as handle:
            entries = [entry for entry in handle if _visible(entry.name)]
    except OSError:
        return []
    entries.sort(key=lambda entry: entry.name)
    return entries


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _images(directory: Path, recursive: bool = False) -> Iterator[Path]:
    """Image files under ``directory`` in sorted order, folder by folder."""
    subdirs = []
    for entry in _entries(directory):
        if _is_dir(entry):
            subdirs.append(entry)
        elif _is_image(entry.name):
            yield Path(entry.path)
    if recursive:
        for entry in subdirs:
            yield from _images(Path(entry.path), recursive=True)


def _child(parent: Path, *names: str) -> Path | None:
    """The first sub-folder of ``parent`` named like one of ``names`` (case-insensitive)."""
    folders = {entry.name.lower(): Path(entry.path) for entry in _entries(parent) if _is_dir(entry)}
    for name in names:
        found = folders.get(name.lower())
        if found is not None:
            return found
    return None


def _find_dirs(root: Path, name: str, depth: int) -> list[Path]:
    """Folders called ``name`` (case-insensitive) at most ``depth`` levels below ``root``."""
    found: list[Path] = []
    level = [root]
    for _ in range(depth + 1):
        following = []
        for folder in level:
            if folder.name.lower() == name.lower():
                found.append(folder)
                continue
            following.extend(Path(entry.path) for entry in _entries(folder) if _is_dir(entry))
        level = following
    return sorted(found)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


def _index_by_stem(paths: Iterable[Path], suffix: str = "") -> dict[str, Path]:
    """Map lower-case stem (without ``suffix``) to path; the first in sorted order wins."""
    index: dict[str, Path] = {}
    for path in paths:
        stem = path.stem
        if suffix and stem.lower().endswith(suffix.lower()):
            stem = stem[: -len(suffix)]
        index.setdefault(stem.lower(), path)
    return index


_LABELS = {
    **dict.fromkeys(
        ["1", "true", "yes", "y", "tampered", "fake", "forged", "forgery", "manipulated", "spliced",
         "splicing", "edited", "synthetic", "generated", "ai", "positive", "tp"], 1),
    **dict.fromkeys(
        ["0", "false", "no", "n", "authentic", "real", "pristine", "original", "genuine", "clean",
         "negative", "au"], 0),
}


def _parse_label(value: str | None) -> int | None:
    if value is None:
        return None
    return _LABELS.get(value.strip().lower())


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV manifest; ``|`` is detected as separator (NIST's)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = handle.readline()
            delimiter = "|" if header.count("|") > header.count(",") else ","
            handle.seek(0)
            reader = csv.DictReader(handle, delimiter=delimiter)
            for row in reader:
                yield reader.line_num, {
                    key.strip(): (value or "").strip()
                    for key, value in row.items()
                    if isinstance(key, str) and not isinstance(value, list)
                }
    except OSError as exc:
        raise DatasetNotFound(f"{path}: manifest cannot be read ({exc.strerror or exc})") from None


def _columns(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            header = handle.readline()
    except OSError:
        return []
    delimiter = "|" if header.count("|") > header.count(",") else ","
    return [column.strip() for column in next(csv.reader([header], delimiter=delimiter), [])]


def _manifest_path(path: Path, default: str = "manifest.csv") -> Path | None:
    if path.is_file():
        return path
    candidate = path / default
    return candidate if candidate.is_file() else None


# ----------------------------------------------------------------------------------------------
# The base class


class Dataset:
    """A dataset on disk, read through one published layout.

    Subclasses set :attr:`name` (the registry kind), :attr:`expected` (what must
    be on disk, for the error message) and :attr:`description`, find their
    folders in :meth:`_locate` (raising :class:`DatasetNotFound`) and stream
    samples from :meth:`samples`.
    """

    name: ClassVar[str] = ""
    #: What must be on disk, as it appears in the "expected ... under ROOT" error.
    expected: ClassVar[str] = ""
    #: One paragraph: source, citation, mask convention, layout expected on disk.
    description: ClassVar[str] = ""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).expanduser()
        self._locate()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r})"

    @property
    def spec(self) -> str:
        """The ``KIND:PATH`` spec that opens this dataset again."""
        return f"{self.name}:{self.root}"

    def describe(self) -> str:
        """One paragraph: source, citation, mask convention and what is expected on disk."""
        return " ".join(self.description.split())

    def samples(self) -> Iterator[Sample]:
        """Stream the samples in a deterministic order."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[Sample]:
        return self.samples()

    def _locate(self) -> None:
        if not self.root.is_dir():
            raise self._missing()

    def _missing(self, detail: str = "") -> DatasetNotFound:
        note = "" if self.root.exists() else " (no such folder)"
        extra = f"; {detail}" if detail else ""
        return DatasetNotFound(f"{self.name}: expected {self.expected} under {self.root}{note}{extra}")

    def _sample(self, image: Path, mask: Path | None, label: int, convention: str = WHITE_TAMPERED,
                kind: str = "", split: str = "") -> Sample:
        return Sample(
            id=_relative(image, self.root),
            image=image,
            mask=_existing(mask),
            label=label,
            mask_convention=convention,
            kind=kind,
            split=split,
        )


# ----------------------------------------------------------------------------------------------
# Manifests: the dev sets, and any CSV


def _manifest_samples(manifest: Path, name: str, *, strict: bool,
                      default_convention: str = WHITE_TAMPERED) -> Iterator[Sample]:
    """Samples of a manifest with image/mask/label columns (``image_path``/``mask_path`` too).

    ``strict``: a label that is not authentic/tampered is an error (generic CSV);
    otherwise the row is skipped (dev-set rows labelled provenance-test, ...).
    """
    base = manifest.parent
    for line, row in _read_rows(manifest):
        image_text = row.get("image") or row.get("image_path") or ""
        if not image_text:
            if strict:
                raise BadManifest(f"{name}: line {line} of {manifest} has no image path")
            continue
        label_text = row.get("label", "")
        label = _parse_label(label_text)
        mask_text = row.get("mask") or row.get("mask_path") or ""
        if label is None:
            if not strict:
                continue
            if label_text == "" and mask_text:
                label = 1
            else:
                raise BadManifest(
                    f"{name}: line {line} of {manifest} has label {label_text!r}; "
                    "expected 1/0, tampered/authentic, fake/real or true/false"
                )
        convention = row.get("mask_convention") or default_convention
        if convention not in MASK_CONVENTIONS:
            raise BadManifest(
                f"{name}: line {line} of {manifest} has mask_convention {convention!r}; "
                f"valid: {', '.join(MASK_CONVENTIONS)}"
            )
        kind = row.get("kind") or row.get("manipulation_type") or row.get("manipulation") or ""
        if kind.lower().startswith("none"):
            kind = ""
        if not kind and label == 1 and (label_text.lower() in ("synthetic", "generated", "ai")):
            kind = "synthetic"
        image = Path(image_text)
        mask = Path(mask_text) if mask_text else None
        yield Sample(
            id=image_text.replace(os.sep, "/") if not image.is_absolute() else image.as_posix(),
            image=image if image.is_absolute() else base / image,
            mask=_existing(None if mask is None else (mask if mask.is_absolute() else base / mask)),
            label=label,
            mask_convention=convention,
            kind=kind,
            split=row.get("split", ""),
        )


class DevSet(Dataset):
    """The development sets under ``shared/data/dev/*``: a ``manifest.csv`` per folder.

    Columns used: ``image_path``, ``mask_path`` (both relative to the manifest),
    ``label`` (``authentic`` = 0; ``tampered`` and ``synthetic`` = 1; rows with
    other labels such as ``provenance-test`` or ``metadata-test`` are skipped:
    they are not detection samples), ``manipulation_type`` or ``manipulation``
    (the kind; "none (...)" is read as empty) and ``split`` when present.
    Verified against the files: the casia1 manifest lists 880 images, 460 with masks.
    """

    name = "devset"
    expected = "a manifest.csv with image_path, mask_path and label columns"
    description = """Development copy of a public image set as laid out under shared/data/dev/<set>/:
    the images as published plus manifest.csv (image_path, mask_path, label, manipulation_type,
    source repository/path/commit, size, notes) and SOURCE.txt (origin, licence, citation, measured
    caveats: read it before quoting numbers). Labels authentic=0, tampered or synthetic=1; rows with
    other labels are not detection samples and are skipped. Masks are white (>127) = manipulated.
    PATH is the set's folder or its manifest.csv."""

    def _locate(self) -> None:
        manifest = _manifest_path(self.root)
        if manifest is None:
            raise self._missing()
        columns = _columns(manifest)
        if "image_path" not in columns or "label" not in columns:
            raise self._missing(f"{manifest.name} has columns {', '.join(columns) or 'none'}")
        self.manifest = manifest

    def samples(self) -> Iterator[Sample]:
        return _manifest_samples(self.manifest, self.name, strict=False)


class CsvManifest(Dataset):
    """Any dataset described by a CSV manifest.

    Required columns ``image`` and ``label``; optional ``mask``,
    ``mask_convention`` (default white-tampered), ``kind`` and ``split``. Paths
    are relative to the CSV's folder (absolute paths are kept). Labels: 1/0,
    tampered/authentic, fake/real, true/false, synthetic; a row with an empty
    label and a mask counts as tampered. ``|``-separated files are accepted.
    """

    name = "csv"
    expected = "a CSV manifest with columns image, label (and optionally mask, mask_convention, kind, split)"
    description = """Generic manifest: a CSV file (PATH, or PATH/manifest.csv) with one row per image and
    the columns image, label and optionally mask, mask_convention (white-tampered, black-tampered,
    green-tampered or nonblack-tampered; default white-tampered), kind and split. Paths are relative to
    the CSV's folder. Labels are 1/0, tampered/authentic, fake/real or true/false. Use it for any set
    that has no adapter of its own; cite the set's own paper."""

    def _locate(self) -> None:
        manifest = _manifest_path(self.root)
        if manifest is None:
            raise self._missing()
        columns = _columns(manifest)
        if not ({"image", "image_path"} & set(columns)) or "label" not in columns:
            raise self._missing(f"{manifest.name} has columns {', '.join(columns) or 'none'}")
        self.manifest = manifest

    def samples(self) -> Iterator[Sample]:
        return _manifest_samples(self.manifest, self.name, strict=True)


class Folder(Dataset):
    """The simplest convention: ``authentic/``, ``tampered/``, ``masks/<stem>.png``.

    Folders are read flat (not recursively); a mask is paired with the tampered
    image of the same stem (``.png`` preferred, any image extension accepted).
    White = tampered.
    """

    name = "folder"
    expected = "folders authentic/ and/or tampered/ (with masks/<same stem>.png)"
    description = """Plain folder convention for one's own images: ROOT/authentic/* (label 0),
    ROOT/tampered/* (label 1) and, optionally, ROOT/masks/<same stem as the tampered image>.png with
    white = tampered. Folders are read flat, in name order. No citation: describe the images'
    origin wherever numbers from them are reported."""

    def _locate(self) -> None:
        super()._locate()
        self.authentic = _child(self.root, "authentic")
        self.tampered = _child(self.root, "tampered")
        if self.authentic is None and self.tampered is None:
            raise self._missing()
        self.masks = _child(self.root, "masks", "mask")

    def samples(self) -> Iterator[Sample]:
        if self.tampered is not None:
            index = self._mask_index()
            for image in _images(self.tampered):
                yield self._sample(image, index.get(image.stem.lower()), 1)
        if self.authentic is not None:
            for image in _images(self.authentic):
                yield self._sample(image, None, 0)

    def _mask_index(self) -> dict[str, Path]:
        if self.masks is None:
            return {}
        pngs = [path for path in _images(self.masks) if path.suffix.lower() == ".png"]
        index = _index_by_stem(pngs)
        for path in _images(self.masks):
            index.setdefault(path.stem.lower(), path)
        return index


# ----------------------------------------------------------------------------------------------
# Published benchmarks


class Columbia(Dataset):
    """Columbia Uncompressed Image Splicing Detection Evaluation Dataset.

    Layout relied on: the official page (ee.columbia.edu/ln/dvmm/downloads/
    authsplcuncmp/) names the two folders ``4cam_auth`` (183 authentic) and
    ``4cam_splc`` (180 spliced), TIFF or BMP; the common mirrors and loaders
    (e.g. PhotoHolmes) put the edge masks in ``4cam_splc/edgemask/`` named
    ``<image stem>_edgemask.<ext>`` (JPEG in the original archive; BMP in some
    copies; a ``_edgemask_N`` variant is also accepted). Some unpacked copies nest
    ``4cam_splc/4cam_splc/``: both are found.

    Binary mask: the edge masks are colour-coded, the region from the second
    (spliced-in) camera in green, the host region in red, with brighter
    red/green edges and blue single edges. :func:`load_mask` with convention
    ``green-tampered`` marks a pixel manipulated where green is above 100 and
    dominates red and blue (robust to the JPEG ringing of the mask files).
    Uncertain: the colour code is taken from third-party loaders (PhotoHolmes
    reads the green channel; others describe green = tampered, red = authentic),
    not from the archive's own README, which could not be read here.
    """

    name = "columbia"
    expected = "folders 4cam_auth/ and 4cam_splc/ (masks in 4cam_splc/edgemask/)"
    description = """Columbia Uncompressed Image Splicing Detection Evaluation Dataset (DVMM, Columbia
    University): 183 authentic and 180 spliced uncompressed TIFF/BMP images from four cameras, 757x568 to
    1152x768. Cite Y.-F. Hsu and S.-F. Chang, "Detecting image splicing using geometry invariants and camera
    characteristics consistency", ICME 2006. Expected: ROOT/4cam_auth/*, ROOT/4cam_splc/* and
    ROOT/4cam_splc/edgemask/<stem>_edgemask.<jpg|bmp>. The edge masks are colour-coded (spliced region
    green, host region red): mask_convention green-tampered, read with load_mask. Research use only."""

    def _locate(self) -> None:
        super()._locate()
        auth = _find_dirs(self.root, "4cam_auth", 2)
        splc = _find_dirs(self.root, "4cam_splc", 2)
        if not auth and not splc:
            raise self._missing()
        self.auth = auth[0] if auth else None
        self.splc: Path | None = None
        self.edgemask: Path | None = None
        if splc:
            outer = splc[0]
            inner = _child(outer, "4cam_splc")
            self.splc = inner if inner is not None and any(_images(inner)) else outer
            self.edgemask = _child(outer, "edgemask") or _child(self.splc, "edgemask")
            if self.edgemask is None and outer.parent != outer:
                self.edgemask = _child(outer.parent, "edgemask")

    _MASK = re.compile(r"^(?P<stem>.+?)_edgemask(?:_\d+)?$", re.IGNORECASE)

    def samples(self) -> Iterator[Sample]:
        if self.splc is not None:
            index: dict[str, Path] = {}
            if self.edgemask is not None:
                for path in _images(self.edgemask):
                    match = self._MASK.match(path.stem)
                    if match:
                        index.setdefault(match["stem"].lower(), path)
            for image in _images(self.splc):
                yield self._sample(image, index.get(image.stem.lower()), 1, GREEN_TAMPERED, "splicing")
        if self.auth is not None:
            for image in _images(self.auth):
                yield self._sample(image, None, 0, GREEN_TAMPERED)


_CASIA1_NAME = re.compile(
    r"^Sp_(?P<type>[DS])_(?P<code>[A-Za-z]+)_(?P<size>[A-Za-z])_"
    r"(?P<a>[a-z]{3}\d+)_(?P<b>[a-z]{3}\d+)[._](?P<id>\d+)(?:_gt)?$"
)


def _kind_from_folders(path: Path, stop: Path) -> str:
    """Manipulation kind named by a folder between ``stop`` (excluded) and ``path`` (CM/, Sp/)."""
    for parent in path.parents:
        if parent == stop or len(parent.parts) <= len(stop.parts):
            break
        name = parent.name.lower()
        if name in ("cm", "copy-move", "copymove"):
            return "copy-move"
        if name in ("sp", "splicing", "spliced"):
            return "splicing"
    return ""


class Casia1(Dataset):
    """CASIA Image Tampering Detection Evaluation Database v1.0, with Pham et al.'s masks.

    Layout relied on: the original release has ``Au/`` (800 JPEG) and ``Sp/``
    (921 JPEG; some copies call it ``Tp/`` and split it into ``CM/`` and
    ``Sp/``); the ground truth is the ``CASIA 1.0 groundtruth`` archive of
    github.com/namtpham/casia1groundtruth (``CM/`` and ``Sp/`` folders of
    ``<image stem>_gt.png``, white = tampered). The shared dev copy uses ``Au/``,
    ``Tp/``, ``masks/`` and a ``manifest.csv``: when ``ROOT/manifest.csv`` exists
    it is used, since its pairing includes the renames the folder scan cannot
    know.

    Pairing without a manifest: exact stem first; then, because the original
    names contain mistakes that the ground-truth repository corrected (its
    FileNameCorrection.xlsx), a mask whose name has the same image ID and the
    same two source images in either order is accepted (this recovers the
    swapped-order and D/S-corrected names). Verified on the dev copy (folders
    only): 458 of 460 masks paired, every kind as in the manifest; the other two
    (a typo, and a source id that differs in the mask's name) only the manifest pairs.
    Kind: the mask's ground-truth folder (CM = copy-move, Sp = splicing) when
    there is one, else the mask's name (which carries the corrected class),
    else the image's: ``Sp_S_`` = copy-move, ``Sp_D_`` = splicing.
    Uncertain: the exact folder names of the original CASIA v1.0 archive (mirrors differ).
    """

    name = "casia1"
    expected = "folders Au/ and Tp/ (or a manifest.csv)"
    description = """CASIA Image Tampering Detection Evaluation Database v1.0 (Institute of Automation,
    Chinese Academy of Sciences): 800 authentic and 921 tampered 384x256 JPEG images (Sp_S_* copy-move,
    Sp_D_* splicing). Cite J. Dong, W. Wang and T. Tan, "CASIA image tampering detection evaluation
    database", ChinaSIP 2013, and for the masks N. T. Pham et al., "Hybrid image-retrieval method for
    image-splicing validation", Symmetry 11(1):83, 2019 (github.com/namtpham/casia1groundtruth).
    Expected: ROOT/Au/*.jpg, ROOT/Tp/ or ROOT/Sp/ (flat or with CM/ and Sp/) and the masks as
    <stem>_gt.png in ROOT/masks/ or ROOT/CASIA 1.0 groundtruth/; or a ROOT/manifest.csv (image_path,
    mask_path, label), which then takes precedence. Masks: white = tampered. Caveat: authentic and
    tampered files use largely disjoint JPEG quantization tables, which inflates image-level scores."""

    _TAMPERED = ("Tp", "Sp", "Tampered")
    _MASKS = ("masks", "mask", "CASIA 1.0 groundtruth", "CASIA1 groundtruth", "groundtruth", "gt")
    _AUTHENTIC = ("Au", "Authentic")

    def _locate(self) -> None:
        super()._locate()
        self.manifest = None
        manifest = self.root / "manifest.csv"
        if manifest.is_file() and "image_path" in _columns(manifest):
            self.manifest = manifest
            return
        self.authentic = _child(self.root, *self._AUTHENTIC)
        self.tampered = _child(self.root, *self._TAMPERED)
        if self.authentic is None or self.tampered is None:
            raise self._missing()
        self.masks = _child(self.root, *self._MASKS)

    def samples(self) -> Iterator[Sample]:
        if self.manifest is not None:
            yield from _manifest_samples(self.manifest, self.name, strict=False)
            return
        exact, loose = self._mask_index()
        for image in _images(self.tampered, recursive=True):
            mask = exact.get(image.stem.lower())
            if mask is None:
                key = self._loose_key(image.stem)
                mask = loose.get(key) if key else None
            kind = ""
            if mask is not None and self.masks is not None:
                kind = _kind_from_folders(mask, self.masks) or self._kind_from_name(mask.stem)
            kind = kind or _kind_from_folders(image, self.tampered) or self._kind_from_name(image.stem)
            yield self._sample(image, mask, 1, WHITE_TAMPERED, kind)
        for image in _images(self.authentic, recursive=True):
            yield self._sample(image, None, 0)

    @staticmethod
    def _kind_from_name(stem: str) -> str:
        match = _CASIA1_NAME.match(stem)
        if not match:
            return ""
        return "copy-move" if match["type"] == "S" else "splicing"

    @staticmethod
    def _loose_key(stem: str) -> tuple[str, str, str] | None:
        match = _CASIA1_NAME.match(stem)
        if not match:
            return None
        first, second = sorted((match["a"].lower(), match["b"].lower()))
        return match["id"], first, second

    def _mask_index(self) -> tuple[dict[str, Path], dict[tuple[str, str, str], Path]]:
        exact: dict[str, Path] = {}
        loose: dict[tuple[str, str, str], Path] = {}
        ambiguous: set[tuple[str, str, str]] = set()
        if self.masks is None:
            return exact, loose
        for path in _images(self.masks, recursive=True):
            stem = path.stem
            if stem.lower().endswith("_gt"):
                stem = stem[:-3]
            exact.setdefault(stem.lower(), path)
            key = self._loose_key(stem)
            if key is not None:
                if key in loose and loose[key] != path:
                    ambiguous.add(key)
                loose.setdefault(key, path)
        for key in ambiguous:
            loose.pop(key, None)
        return exact, loose


_CASIA2_NAME = re.compile(r"^Tp_(?P<type>[DS])_.*_(?P<id>\d+)$", re.IGNORECASE)


class Casia2(Dataset):
    """CASIA v2.0 with the ground truth of github.com/namtpham/casia2groundtruth.

    Layout relied on: ``Au/`` (authentic, JPEG and a few BMP), ``Tp/`` (tampered,
    JPEG and TIFF) and the ground-truth folder ``CASIA 2 Groundtruth/`` of
    ``<image stem>_gt.png`` (white = tampered), as in the repository's samples
    and common loaders. Pairing: exact stem, then the trailing image ID when
    exactly one mask carries it (the repository renamed about 100 files whose
    D/S class was wrong; loaders pair by ID for that reason). Kind: ``Tp_D_`` =
    splicing, ``Tp_S_`` = copy-move. Uncertain: the ground-truth folder's name
    varies between copies (``CASIA 2 Groundtruth``, ``groundtruth``, ``gt``,
    ``masks`` are all searched); a few tampered images have no mask.
    """

    name = "casia2"
    expected = "folders Au/ and Tp/ (masks in 'CASIA 2 Groundtruth/')"
    description = """CASIA v2.0 (Institute of Automation, Chinese Academy of Sciences): about 7,500
    authentic and 5,123 tampered images (JPEG, TIFF, BMP; 240x160 to 900x600), Tp_D_* splicing and Tp_S_*
    copy-move. Cite J. Dong, W. Wang and T. Tan, ChinaSIP 2013, and for the masks N. T. Pham et al.,
    Symmetry 11(1):83, 2019 (github.com/namtpham/casia2groundtruth). Expected: ROOT/Au/*, ROOT/Tp/* and
    the masks as <stem>_gt.png in ROOT/CASIA 2 Groundtruth/ (or groundtruth/, gt/, masks/). Masks:
    white = tampered. Research use only."""

    _MASKS = ("CASIA 2 Groundtruth", "CASIA2 Groundtruth", "CASIA 2.0 Groundtruth", "CASIA2.0_Groundtruth",
              "groundtruth", "gt", "masks", "mask")

    def _locate(self) -> None:
        super()._locate()
        self.authentic = _child(self.root, "Au", "Authentic")
        self.tampered = _child(self.root, "Tp", "Tampered")
        if self.authentic is None or self.tampered is None:
            raise self._missing()
        self.masks = _child(self.root, *self._MASKS)

    def samples(self) -> Iterator[Sample]:
        exact: dict[str, Path] = {}
        by_id: dict[str, Path] = {}
        repeated: set[str] = set()
        if self.masks is not None:
            for path in _images(self.masks, recursive=True):
                stem = path.stem[:-3] if path.stem.lower().endswith("_gt") else path.stem
                exact.setdefault(stem.lower(), path)
                match = _CASIA2_NAME.match(stem)
                if match:
                    if match["id"] in by_id:
                        repeated.add(match["id"])
                    by_id.setdefault(match["id"], path)
        for key in repeated:
            by_id.pop(key, None)
        for image in _images(self.tampered, recursive=True):
            match = _CASIA2_NAME.match(image.stem)
            mask = exact.get(image.stem.lower()) or (by_id.get(match["id"]) if match else None)
            kind = "" if not match else ("copy-move" if match["type"].upper() == "S" else "splicing")
            yield self._sample(image, mask, 1, WHITE_TAMPERED, kind)
        for image in _images(self.authentic, recursive=True):
            yield self._sample(image, None, 0)


class Coverage(Dataset):
    """COVERAGE copy-move dataset (github.com/wenbihan/coverage).

    Layout relied on (repository README and PhotoHolmes' loader): ``image/NN.tif``
    original, ``image/NNt.tif`` tampered, ``mask/NNforged.tif`` the forged
    (pasted) region; ``NNcopy.tif`` and ``NNpaste.tif`` (source and
    similar-genuine-object regions) are ignored. Masks: white = forged.
    """

    name = "coverage"
    expected = "folders image/ (NN.tif, NNt.tif) and mask/ (NNforged.tif)"
    description = """COVERAGE, a copy-move dataset of 100 original/forged TIFF pairs in which every
    original already contains similar-but-genuine objects (github.com/wenbihan/coverage). Cite B. Wen,
    Y. Zhu, R. Subramanian, T.-T. Ng, X. Shen and S. Winkler, "COVERAGE - A novel database for copy-move
    forgery detection", ICIP 2016. Expected: ROOT/image/NN.tif (original), ROOT/image/NNt.tif (forged)
    and ROOT/mask/NNforged.tif; masks white = forged."""

    _NAME = re.compile(r"^(?P<num>\d+)(?P<tag>t?)$", re.IGNORECASE)

    def _locate(self) -> None:
        super()._locate()
        self.images = _child(self.root, "image", "images")
        if self.images is None:
            raise self._missing()
        self.masks = _child(self.root, "mask", "masks")

    def samples(self) -> Iterator[Sample]:
        index = _index_by_stem(_images(self.masks)) if self.masks is not None else {}
        originals = []
        for image in _images(self.images):
            match = self._NAME.match(image.stem)
            if match is None:
                continue
            if match["tag"]:
                yield self._sample(image, index.get(f"{match['num']}forged"), 1, WHITE_TAMPERED, "copy-move")
            else:
                originals.append(image)
        for image in originals:
            yield self._sample(image, None, 0)


class Nist16(Dataset):
    """NIST Nimble Challenge 2016 (NC2016_Test0613), read from its reference CSV.

    Layout relied on (NIST MediScore tools): pipe-separated
    ``reference/manipulation/NC2016-manipulation-ref.csv`` with columns
    ``ProbeFileName`` (``probe/NC2016_xxxx.jpg``), ``ProbeMaskFileName``
    (``reference/manipulation/mask/NC2016_xxxx.png``, empty for non-targets) and
    ``IsTarget`` (Y/N), paths relative to the dataset folder; the kind comes from
    ``IsManipulationTypeRemoval/Splice/CopyClone`` when present. Reference masks
    are BLACK (0) = manipulated, white = untouched (MediScore binarizes at 254;
    here at 127). PATH may be the dataset folder or a ``*-ref.csv`` file; a probe
    listed twice (the splice task lists probe-donor pairs) is yielded once.
    """

    name = "nist16"
    expected = "reference/manipulation/NC2016-manipulation-ref.csv (columns ProbeFileName|ProbeMaskFileName|IsTarget)"
    description = """NIST Nimble Challenge 2016 evaluation set (NC2016_Test0613): 1,124 probe images
    (about 560 manipulated: splice, copy-clone, removal) with reference masks. Cite H. Guan et al., "MFC
    datasets: Large-scale benchmark datasets for media forensic challenge evaluation", WACV Workshops 2019;
    obtained from NIST under its data licence. Expected: ROOT/reference/manipulation/NC2016-manipulation-ref.csv
    (pipe-separated; ProbeFileName, ProbeMaskFileName, IsTarget; paths relative to ROOT), ROOT/probe/ and
    the masks it names. Masks: BLACK = manipulated (mask_convention black-tampered)."""

    def _locate(self) -> None:
        self.reference: Path | None = None
        if self.root.is_file():
            self.reference = self.root
            self.base = self._base_for(self.root)
        elif self.root.is_dir():
            self.reference, self.base = self._find_reference(self.root)
        if self.reference is None:
            raise self._missing()
        columns = _columns(self.reference)
        if "ProbeFileName" not in columns or "IsTarget" not in columns:
            raise self._missing(f"{self.reference.name} has no ProbeFileName/IsTarget columns")

    @staticmethod
    def _find_reference(root: Path) -> tuple[Path | None, Path]:
        for base in [root] + [Path(entry.path) for entry in _entries(root) if _is_dir(entry)]:
            fixed = base / "reference" / "manipulation" / "NC2016-manipulation-ref.csv"
            if fixed.is_file():
                return fixed, base
            reference = base / "reference"
            if reference.is_dir():
                found = sorted(reference.glob("*/*manipulation-ref.csv")) or sorted(reference.glob("*/*-ref.csv"))
                if found:
                    return found[0], base
        return None, root

    @staticmethod
    def _base_for(reference: Path) -> Path:
        candidates = [reference.parents[i] for i in (2, 1, 0) if i < len(reference.parents)]
        for line, row in _read_rows(reference):
            probe = row.get("ProbeFileName", "")
            for base in candidates:
                if probe and (base / probe).is_file():
                    return base
            break
        return candidates[0]

    def samples(self) -> Iterator[Sample]:
        assert self.reference is not None
        seen: set[str] = set()
        kinds = (("IsManipulationTypeSplice", "splicing"), ("IsManipulationTypeCopyClone", "copy-move"),
                 ("IsManipulationTypeRemoval", "removal"))
        for _, row in _read_rows(self.reference):
            probe = row.get("ProbeFileName", "")
            if not probe or probe in seen:
                continue
            seen.add(probe)
            label = 1 if row.get("IsTarget", "").upper() == "Y" else 0
            mask_name = row.get("ProbeMaskFileName", "")
            kind = "+".join(name for column, name in kinds if row.get(column, "").upper() == "Y") if label else ""
            yield Sample(
                id=probe,
                image=self.base / probe,
                mask=_existing(self.base / mask_name) if mask_name and label else None,
                label=label,
                mask_convention=BLACK_TAMPERED,
                kind=kind,
                split="",
            )


class Imd2020(Dataset):
    """IMD2020 real-life manipulated images (staff.utia.cas.cz/novozada/db/).

    Layout relied on (loader docstrings that list the unpacked archive, e.g.
    image-manipulation-datasets and TruFor's training code): one folder per
    source photo, holding ``<folder>_orig.<ext>`` (the authentic original),
    manipulated versions ``<id>_<n>.<ext>`` and their masks
    ``<id>_<n>_mask.png`` (white = manipulated). Any image whose stem contains
    ``_orig`` is authentic; any other non-mask image is manipulated, paired
    with ``<stem>_mask.*`` when present. Uncertain: the file-name scheme was
    not checked against the archive itself.
    """

    name = "imd2020"
    expected = "one folder per source image holding *_orig.* and *_mask.png files"
    description = """IMD2020 real-life subset: 2,010 manipulated images collected from the Internet with
    their 1,010 or so original photos and hand-made masks. Cite A. Novozamsky, B. Mahdian and S. Saic,
    "IMD2020: A large-scale annotated dataset tailored for detecting manipulated images", WACV Workshops
    2020 (staff.utia.cas.cz/novozada/db/). Expected: ROOT/<source id>/<source id>_orig.<ext> (authentic),
    ROOT/<source id>/<name>.<ext> (manipulated) and ROOT/<source id>/<name>_mask.png; masks white =
    manipulated."""

    def _locate(self) -> None:
        super()._locate()
        for entry in _entries(self.root):
            if _is_dir(entry) and any("_orig" in path.stem.lower() for path in _images(Path(entry.path))):
                return
        raise self._missing()

    def samples(self) -> Iterator[Sample]:
        for entry in _entries(self.root):
            if not _is_dir(entry):
                continue
            files = list(_images(Path(entry.path)))
            masks = _index_by_stem((path for path in files if path.stem.lower().endswith("_mask")), "_mask")
            for path in files:
                stem = path.stem.lower()
                if stem.endswith("_mask"):
                    continue
                if "_orig" in stem:
                    yield self._sample(path, None, 0)
                else:
                    yield self._sample(path, masks.get(stem), 1)


class Dso1(Dataset):
    """DSO-1 (from the ``tifs-database`` archive of Carvalho et al.).

    Layout relied on (PhotoHolmes and several evaluation scripts that unpack
    ``tifs-database.zip``): ``DSO-1/`` holding ``normal-NN.png`` (authentic) and
    ``splicing-NN.png`` (spliced), and ``DSO-1-Fake-Images-Masks/`` holding a
    mask with the same file name as each spliced image. Mask convention:
    BLACK = spliced (three independent loaders invert the mask or test ``== 0``).
    PATH may be the ``tifs-database`` folder or the ``DSO-1`` folder itself.
    Uncertain: the polarity was not checked on the files.
    """

    name = "dso1"
    expected = "DSO-1/ (normal-*.png, splicing-*.png) and DSO-1-Fake-Images-Masks/"
    description = """DSO-1: 100 authentic and 100 spliced 2048x1536 PNG images of people, the splices
    retouched to be realistic (from tifs-database.zip, recodbr.wordpress.com). Cite T. J. de Carvalho,
    C. Riess, E. Angelopoulou, H. Pedrini and A. Rocha, "Exposing digital image forgeries by illumination
    color classification", IEEE TIFS 8(7), 2013. Expected: ROOT/DSO-1/normal-*.png and splicing-*.png,
    ROOT/DSO-1-Fake-Images-Masks/<same name>.png. Masks: BLACK = spliced (mask_convention black-tampered)."""

    def _locate(self) -> None:
        super()._locate()
        images = _child(self.root, "DSO-1", "DSO1")
        if images is None and any(self._label(path) is not None for path in _images(self.root)):
            images = self.root
        if images is None:
            raise self._missing()
        self.images = images
        self.masks = (_child(images.parent, "DSO-1-Fake-Images-Masks") or _child(self.root, "DSO-1-Fake-Images-Masks")
                      or _child(self.root, "masks"))

    @staticmethod
    def _label(path: Path) -> int | None:
        prefix = path.stem.split("-")[0].lower()
        return {"splicing": 1, "normal": 0}.get(prefix)

    def samples(self) -> Iterator[Sample]:
        originals = []
        for image in _images(self.images):
            label = self._label(image)
            if label == 1:
                mask = self.masks / image.name if self.masks is not None else None
                yield self._sample(image, mask, 1, BLACK_TAMPERED, "splicing")
            elif label == 0:
                originals.append(image)
        for image in originals:
            yield self._sample(image, None, 0, BLACK_TAMPERED)


class Korus(Dataset):
    """Korus' Realistic Tampering Dataset (pkorus.pl/downloads/dataset-realistic-tampering).

    Layout relied on (the dataset page and loaders such as PhotoHolmes): one
    folder per camera (Canon_60D, Nikon_D90, Nikon_D7000, Sony_A57; under
    ``data-images/`` in the archive) with ``tampered-realistic/*.TIF``,
    ``pristine/*.TIF`` and ``ground-truth/<stem>.PNG``. PATH may be the archive
    folder, ``data-images/`` or a single camera folder. The ground truth has
    three levels (dataset page): black = authentic, white = important semantic
    change, grey = collateral damage. Convention white-tampered: :func:`load_mask`
    keeps pixels above 127, so whether grey collateral counts depends on its
    level, which was not measured here (PhotoHolmes counts any level above 10).
    """

    name = "korus"
    expected = "camera folders with tampered-realistic/, pristine/ and ground-truth/"
    description = """Realistic Tampering Dataset: 220 hand-made forgeries (splicing, copy-move, object
    removal) and their 220 originals, 1920x1080 TIFF from four cameras. Cite P. Korus and J. Huang,
    "Multi-scale analysis strategies in PRNU-based tampering localization", IEEE TIFS 12(4), 2017, and
    "Evaluation of random field models in multi-modal unsupervised tampering localization", WIFS 2016.
    Expected: <camera>/tampered-realistic/*.TIF, <camera>/pristine/*.TIF and <camera>/ground-truth/<stem>.PNG
    (ROOT may also be one camera folder). Ground truth: black authentic, white tampered, grey collateral
    damage; mask_convention white-tampered (threshold 127)."""

    def _locate(self) -> None:
        super()._locate()
        self.cameras = sorted({path.parent for path in _find_dirs(self.root, "tampered-realistic", 3)})
        if not self.cameras:
            raise self._missing()

    def samples(self) -> Iterator[Sample]:
        for camera in self.cameras:
            tampered = _child(camera, "tampered-realistic")
            truth = _child(camera, "ground-truth", "ground_truth", "groundtruth")
            index = _index_by_stem(_images(truth)) if truth is not None else {}
            if tampered is not None:
                for image in _images(tampered):
                    stem = image.stem.lower()
                    mask = index.get(stem) or index.get(stem[:-1] if stem.endswith("t") else stem + "t")
                    yield self._sample(image, mask, 1)
            pristine = _child(camera, "pristine")
            if pristine is not None:
                for image in _images(pristine):
                    yield self._sample(image, None, 0)


class CocoGlide(Dataset):
    """CocoGlide, the GLIDE-inpainting test set released with TruFor.

    Layout relied on (TruFor README, and a loader that checked the archive):
    ``fake/glide_inpainting_val2017_<coco id>_up.png``, ``real/<class>_<coco id>.png``,
    ``mask/<class>_<coco id>_mask.png`` and a ``table.csv`` (columns real, fake,
    mask, prompt) that pairs them; 256x256, single-channel binary masks, white
    = inpainted. The table is used when present; otherwise masks are paired by
    the COCO id (the last number in the name), because mask and fake names differ.
    """

    name = "cocoglide"
    expected = "folders fake/, real/ and mask/ (and table.csv)"
    description = """CocoGlide: 512 COCO 2017 validation images locally inpainted with GLIDE from a text
    prompt, and their 512 originals, 256x256 PNG. Cite F. Guillaro, D. Cozzolino, A. Sud, N. Dufour and
    L. Verdoliva, "TruFor: Leveraging all-round clues for trustworthy image forgery detection and
    localization", CVPR 2023 (grip.unina.it). Expected: ROOT/fake/*.png, ROOT/real/*.png, ROOT/mask/*_mask.png
    and ROOT/table.csv pairing them; masks white = inpainted."""

    _NUMBER = re.compile(r"(\d+)")

    def _locate(self) -> None:
        super()._locate()
        self.fake = _child(self.root, "fake")
        self.real = _child(self.root, "real")
        if self.fake is None and self.real is None:
            raise self._missing()
        self.masks = _child(self.root, "mask", "masks")

    def _coco_id(self, stem: str) -> str | None:
        numbers = self._NUMBER.findall(stem.replace("val2017", ""))
        return (numbers[-1].lstrip("0") or "0") if numbers else None

    def samples(self) -> Iterator[Sample]:
        by_fake: dict[str, Path] = {}
        table = self.root / "table.csv"
        if table.is_file() and {"fake", "mask"} <= set(_columns(table)):
            for _, row in _read_rows(table):
                if row.get("fake") and row.get("mask"):
                    by_fake[Path(row["fake"]).name.lower()] = self.root / row["mask"]
        by_id: dict[str, Path] = {}
        if self.masks is not None:
            for path in _images(self.masks):
                coco = self._coco_id(path.stem)
                if coco is not None:
                    by_id.setdefault(coco, path)
        if self.fake is not None:
            for image in _images(self.fake):
                mask = by_fake.get(image.name.lower())
                if mask is None:
                    coco = self._coco_id(image.stem)
                    mask = by_id.get(coco) if coco is not None else None
                yield self._sample(image, mask, 1, WHITE_TAMPERED, "inpainting")
        if self.real is not None:
            for image in _images(self.real):
                yield self._sample(image, None, 0)


class CoMoFoD(Dataset):
    """CoMoFoD copy-move database (vcl.fer.hr/comofod).

    Layout relied on (the official page): files ``N_F`` forged, ``N_O``
    original, ``N_B`` binary mask (black background, white forged regions) and
    ``N_M`` colour mask, N three digits (small set, 512x512) or two (large set,
    3000x2000); post-processed versions ``N_F_XXk``/``N_O_XXk`` with XX one of
    JC (JPEG), IB (blur), NA (noise), BC (brightness), CR (colour reduction),
    CA (contrast). Note: the page says ``_B`` is the binary mask and ``_M`` the
    colour mask; ``_B`` is used (white-tampered) and ``_M`` only when ``_B`` is
    missing (nonblack-tampered). Post-processed images share their set's mask
    (the processing is not geometric); pass ``postprocessed=False`` for the
    clean pairs only. Files may sit in ROOT or one folder below (e.g.
    ``CoMoFoD_small_v2/``).
    """

    name = "comofod"
    expected = "files NNN_F.png (forged), NNN_O.png (original) and NNN_B.png (mask)"
    description = """CoMoFoD: 260 copy-move image sets (200 of 512x512, 60 of 3000x2000; translation,
    rotation, scaling, distortion, combination), each with the original, the forged image, a binary and a
    colour mask, and JPEG/blur/noise/brightness/colour-reduction/contrast post-processed versions of both
    images. Cite D. Tralic, I. Zupancic, S. Grgic and M. Grgic, "CoMoFoD - New database for copy-move
    forgery detection", ELMAR 2013 (vcl.fer.hr/comofod). Expected: ROOT/NNN_F.png, NNN_O.png, NNN_B.png
    (binary mask, white = forged), NNN_M.png (colour mask) and NNN_F_JC1.jpg ... (post-processed)."""

    _NAME = re.compile(r"^(?P<num>\d+)_(?P<mark>[FOBM])(?:_(?P<post>[A-Za-z]{2}\d+))?$", re.IGNORECASE)

    def __init__(self, root: str | os.PathLike, postprocessed: bool = True) -> None:
        self.postprocessed = postprocessed
        super().__init__(root)

    def _locate(self) -> None:
        super()._locate()
        for folder in [self.root] + [Path(entry.path) for entry in _entries(self.root) if _is_dir(entry)]:
            for path in _images(folder):
                match = self._NAME.match(path.stem)
                if match and match["mark"].upper() == "F":
                    self.folder = folder
                    return
        raise self._missing()

    def samples(self) -> Iterator[Sample]:
        binary: dict[str, Path] = {}
        colour: dict[str, Path] = {}
        for path in _images(self.folder):
            match = self._NAME.match(path.stem)
            if match and not match["post"]:
                mark = match["mark"].upper()
                if mark == "B":
                    binary.setdefault(match["num"], path)
                elif mark == "M":
                    colour.setdefault(match["num"], path)
        originals = []
        for path in _images(self.folder):
            match = self._NAME.match(path.stem)
            if match is None or (match["post"] and not self.postprocessed):
                continue
            mark = match["mark"].upper()
            if mark == "F":
                mask, convention = binary.get(match["num"]), WHITE_TAMPERED
                if mask is None and match["num"] in colour:
                    mask, convention = colour[match["num"]], NONBLACK_TAMPERED
                yield self._sample(path, mask, 1, convention, "copy-move")
            elif mark == "O":
                originals.append(path)
        for path in originals:
            yield self._sample(path, None, 0)


#: Registry of dataset kinds (the KIND of ``KIND:PATH``) to adapter classes.
ADAPTERS: dict[str, type[Dataset]] = {
    cls.name: cls
    for cls in (Columbia, Casia1, Casia2, Coverage, Nist16, Imd2020, Dso1, Korus, CocoGlide, CoMoFoD,
                CsvManifest, Folder, DevSet)
}

#: Other spellings accepted by :func:`open_dataset`.
ALIASES = {
    "casia": "casia1", "casia-v1": "casia1", "casiav1": "casia1", "casia-v2": "casia2", "casiav2": "casia2",
    "nist": "nist16", "nc2016": "nist16", "dso-1": "dso1", "realistic-tampering": "korus",
    "korus-rt": "korus", "manifest": "csv", "dev": "devset", "columbia-uncompressed": "columbia",
}


def open_dataset(spec: str) -> Dataset:
    """Open a dataset from a ``KIND:PATH`` spec, e.g. ``casia1:/data/CASIA1``.

    Raises
    ------
    BadDatasetSpec
        The spec is not ``KIND:PATH`` or the kind is unknown.
    DatasetNotFound
        The path is missing or does not hold the kind's layout.
    """
    kinds = ", ".join(ADAPTERS)
    kind, sep, path = str(spec).partition(":")
    kind = kind.strip().lower()
    if not sep or not kind or not path.strip():
        raise BadDatasetSpec(f"dataset {spec!r} must be KIND:PATH, e.g. casia1:/data/CASIA1; kinds: {kinds}")
    kind = ALIASES.get(kind, kind)
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise BadDatasetSpec(f"unknown dataset kind {kind!r} in {spec!r}; kinds: {kinds}")
    return adapter(path.strip())
