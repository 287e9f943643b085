"""Training and held-apart data of the learned localizer: splits, photo pool, cached input planes.

Everything here is decided once and written down, so that no held-apart image
can leak into training:

* **CASIA v1 (development half).** Its file names encode the source photos
  (``Au_ani_0004`` is photo ``ani0004``; ``Sp_D_CNN_A_art0024_ani0032_0268`` uses
  ``art0024`` and ``ani0032``), and forgeries share sources with each other and
  with authentic images. Images are grouped by the connected components of
  "shares a source photo" and each *component* goes to one split
  (:func:`casia_groups`, :func:`split_of_group`): ``train`` 60%, ``calibrate``
  10%, ``test`` 30%. ``test`` is the held-apart real-forgery set of the issue.
  Only ``train`` forgeries are trained on (masks as targets). CASIA's authentic
  files are never training negatives: their quantization tables differ from the
  forgeries' (the folder's SOURCE.txt), so a network shown both would learn the
  table as a shortcut; negatives come from the synthetic controls instead, and
  every training image also goes through a random save chain.
* **MICC-F220** is held apart whole (image-level copy-move judge).
* **Photos for synthetic forgeries**: the ``train`` CASIA authentic photos, the
  ``train`` part of dev/exif-camera, camera JPEGs of two public repositories
  (a recipe file: repository, commit, path, SHA-256; :data:`RECIPE`) and the
  Debian wallpaper/OpenCV sample photos installed on the machine.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: Shares of CASIA source-photo components per split.
CASIA_SPLIT = (("train", 0.6), ("calibrate", 0.1), ("test", 0.3))
#: The training recipe of third-party photos (repository, commit, path, SHA-256, licence).
RECIPE = Path(__file__).resolve().parent / "localizer_photos.csv"
#: Photo folders installed by Debian packages (licences in /usr/share/doc/PKG/copyright).
DEBIAN_PHOTOS = ("/usr/share/backgrounds", "/usr/share/wallpapers", "/usr/share/lxqt/wallpapers",
                 "/usr/share/doc/opencv-doc/examples/data")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

_SOURCE_ID = re.compile(r"([a-z]{3}\d{4})")


def casia_sources(name: str) -> set[str]:
    """The source photo ids a CASIA v1 file name encodes (``Au_ani_0004.jpg`` -> ``{"ani0004"}``)."""
    stem = Path(name).name.rsplit(".", 1)[0]
    if stem.startswith("Au_"):
        parts = stem.split("_")
        return {parts[1] + parts[2]} if len(parts) >= 3 else {stem}
    found = set(_SOURCE_ID.findall(stem))
    return found or {stem}


def casia_groups(names: Iterable[str]) -> dict[str, str]:
    """Each name's group: the smallest source id of its connected component (shared sources join)."""
    names = list(names)
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for name in names:
        ids = sorted(casia_sources(name))
        for other in ids[1:]:
            a, b = root(ids[0]), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for name in names:
        members.setdefault(root(sorted(casia_sources(name))[0]), []).append(name)
    found = {}
    for key, group in members.items():
        label = min(i for n in group for i in casia_sources(n))
        for name in group:
            found[name] = label
    return found


def split_of_group(group: str, shares=CASIA_SPLIT) -> str:
    """Split of a group by a hash of its name (stable, independent of what else is present)."""
    u = int(hashlib.sha256(f"tamperscope-localizer-split:{group}".encode()).hexdigest()[:16], 16) / 2**64
    edge = 0.0
    for name, share in shares:
        edge += share
        if u < edge:
            return name
    return shares[-1][0]


def casia_rows(data_root: Path) -> list[dict]:
    """CASIA v1 manifest rows with ``split`` and ``group`` added (paths absolute)."""
    folder = data_root / "casia1"
    with (folder / "manifest.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    groups = casia_groups(r["image_path"] for r in rows)
    for row in rows:
        row["group"] = groups[row["image_path"]]
        row["split"] = split_of_group(row["group"])
        row["image"] = str(folder / row["image_path"])
        row["mask"] = str(folder / row["mask_path"]) if row["mask_path"] else ""
    return rows


def exif_camera_split(name: str) -> str:
    """dev/exif-camera photos: 75% train (synthetic hosts), 25% test (false alarms), by a hash of the name."""
    return split_of_group("exif:" + name, (("train", 0.75), ("test", 0.25)))


def authentic_rows(data_root: Path, split: str) -> list[dict]:
    """Authentic development photos of a split: CASIA (its split), exif-camera (its split), MICC (test)."""
    found = [r for r in casia_rows(data_root) if r["label"] == "authentic" and r["split"] == split]
    for folder, rule in (("exif-camera", exif_camera_split), ("micc-f220", lambda _: "test")):
        manifest = data_root / folder / "manifest.csv"
        if not manifest.is_file():
            continue
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["label"] == "authentic" and row["format"] == "jpeg" and rule(row["image_path"]) == split:
                    found.append({**row, "image": str(data_root / folder / row["image_path"]), "mask": "",
                                  "set": folder})
    for row in found:
        row.setdefault("set", "casia1")
    return found


def synthetic_hosts(data_root: Path, photos: Path | None) -> list[Path]:
    """Authentic photos for ``train`` synthetic forgeries (none of them held apart)."""
    hosts = [Path(r["image"]) for r in casia_rows(data_root) if r["label"] == "authentic" and r["split"] == "train"]
    manifest = data_root / "exif-camera" / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            hosts += [data_root / "exif-camera" / r["image_path"] for r in csv.DictReader(handle)
                      if r["label"] == "authentic" and r["format"] == "jpeg"
                      and exif_camera_split(r["image_path"]) == "train"]
    if photos is not None and photos.is_dir():
        hosts += sorted(p for p in photos.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES)
    for folder in DEBIAN_PHOTOS:
        if Path(folder).is_dir():
            hosts += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES
                            and p.stat().st_size > 20_000)
    return hosts


def camera_crops(data: bytes, side: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Crops of a camera JPEG on its 8x8 grid (so its own compression history stays), as RGB arrays.

    Training hosts should carry a camera's JPEG history the way edited photos do
    (an aligned earlier compression everywhere except where something was pasted);
    a downscaled copy would erase it, a grid-aligned crop keeps it.
    """
    from ..image import load

    pixels = load(data).pixels
    height, width = pixels.shape[:2]
    crops = []
    for _ in range(count):
        h, w = min(side, height) // 8 * 8, min(side, width) // 8 * 8
        y = int(rng.integers(0, (height - h) // 8 + 1)) * 8
        x = int(rng.integers(0, (width - w) // 8 + 1)) * 8
        crops.append(np.ascontiguousarray(pixels[y : y + h, x : x + w]))
    return crops


def write_photo_recipe(mirrors: dict[str, Path], out: Path = RECIPE) -> int:
    """List the camera JPEGs of the public repositories used as hosts (metadata-extractor-images, prnu-python)."""
    import subprocess

    from .recipe import RecipeEntry, write_recipe

    entries = []
    choices = {
        "drewnoakes/metadata-extractor-images": (r"^jpg/[^/]+\.jpe?g$", "free to use (repository README)"),
        "polimi-ispl/prnu-python": (r"^test/data/(ff|nat)-jpg/[^/]+\.jpe?g$", "MIT (repository LICENSE.md); Dresden Image Database photos"),
    }
    for repository, (pattern, licence) in choices.items():
        git_dir = mirrors[repository]
        commit = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        listing = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "-l", commit],
                                 capture_output=True, text=True, check=True).stdout
        for line in listing.splitlines():
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            if not re.match(pattern, path, re.I) or not size.isdigit() or int(size) < 30_000:
                continue
            blob = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                                  capture_output=True, check=False)
            if blob.returncode != 0:
                continue
            group = path.split("/")[-1].rsplit("_", 2)[0] if "prnu" in repository else "camera"
            entries.append(RecipeEntry(repository, commit, path, hashlib.sha256(blob.stdout).hexdigest(), "real",
                                       group, licence))
    write_recipe(entries, out)
    return len(entries)


def prepare_photos(clones: Path, out: Path, side: int = 640, seed: int = 0, recipe: Path = RECIPE) -> list[Path]:
    """Rebuild the recipe's camera JPEGs from local clones, and write one grid-aligned crop of each as PNG.

    ``clones`` holds the repositories (``owner+name`` work trees or bare mirrors,
    see :func:`tamperscope.train.recipe.find_repository`); files whose SHA-256
    differs are refused. The crops (lossless, so the camera's JPEG history
    survives) are what ``tamperscope synth`` gets as hosts.
    """
    from PIL import Image as PILImage

    from .recipe import materialize, read_recipe

    entries = read_recipe(recipe)
    originals = out / "originals"
    written, problems = materialize(entries, clones, originals)
    crops = out / "crops"
    crops.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    made = []
    for path in sorted(written):
        target = crops / (hashlib.sha256(str(path.relative_to(originals)).encode()).hexdigest()[:16] + ".png")
        if not target.is_file():
            try:
                crop = camera_crops(path.read_bytes(), side, 1, rng)[0]
            except Exception:  # an unreadable or tiny test file of the metadata collection: not a host
                continue
            if min(crop.shape[:2]) < 256:
                continue
            PILImage.fromarray(crop).save(target, compress_level=1)
        made.append(target)
    return made


def write_eval_manifests(data_root: Path, out: Path) -> dict[str, Path]:
    """Bench manifests (image, mask, label, kind, split; absolute paths) of the held-apart sets.

    ``casia-test``: the CASIA v1 ``test`` split (forgeries and authentic images of
    the held-apart source components); ``casia-calibrate``: its ``calibrate`` split;
    ``authentic-test``: every held-apart authentic development photo (CASIA
    ``test``, MICC-F220, exif-camera ``test``), the false-alarm set of the verdict.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = casia_rows(data_root)
    written = {}
    sets = {
        "casia-test": [r for r in rows if r["split"] == "test"],
        "casia-calibrate": [r for r in rows if r["split"] == "calibrate"],
        "authentic-test": authentic_rows(data_root, "test"),
    }
    for name, chosen in sets.items():
        path = out / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["image", "mask", "label", "kind", "split"])
            for r in chosen:
                writer.writerow([r["image"], r["mask"], r["label"], r.get("manipulation_type", ""),
                                 r.get("split", r.get("set", ""))])
        written[name] = path
    return written
