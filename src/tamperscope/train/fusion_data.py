"""The images the calibrated fusion is fitted on, and the held-apart images it is judged on.

Every development image goes to one *part*, decided once by a rule written
here, so that no judged image can leak into a fit:

* ``fit``: the class probabilities are fitted on these.
* ``eval``: held apart; calibration (ECE), false alarms and label
  distributions are measured on these only.
* ``excluded``: another model trained on it (see below), so its detector
  scores there are optimistic; neither fitted nor judged.

Rules per set of ``shared/data/dev`` (see that folder's README.md):

* **casia1**: the learned localizer's split by source photo
  (:mod:`tamperscope.train.localizer_data`, taken from there so the two
  always agree): the connected components of "shares a source photo" go, by
  a hash of the component's smallest source id, 60% to the localizer's
  ``train`` (``excluded`` here), 10% to ``calibrate`` (``fit``) and 30% to
  ``test`` (``eval``).
* **exif-camera**: the localizer's split of camera JPEGs (75% ``train``,
  used as hosts of its synthetic forgeries -> ``fit`` here; 25% ``test`` ->
  ``eval``). HEIC files are not read by the loader and are left out.
* **micc-f220**, **sentry-ai**, **comfyui-ai**, **faces-gan-vs-real**: no
  model trained on them; half ``fit``, half ``eval`` by a hash of the source
  photo (MICC: the photo an attack was made from, so an original and its
  clones stay together) or of the file name.
* **synthetic forgeries** (:func:`synthetic_samples`): ``tamperscope synth``
  forgeries with exact masks, and re-saved authentic controls, made from the
  authentic ``fit`` photos above (-> ``fit``) and from the authentic
  ``eval`` photos (-> ``eval``).
* **synthetic AI edits** (:func:`ai_edited_samples`): a square of an AI image
  of the same part (45% of the host's short side, feathered edges) pasted
  into an authentic photo of that part, saved like the synthetic forgeries:
  a proxy for inpainting (the ``aigen`` branch measures its map the same
  way), and the only ``ai-edited`` images there are.
* **c2pa-testfiles**, **exiftool-fixtures**, **faces-real-lfw**,
  **faces-real-utkface**: label distributions only (``eval``; the two face
  sets trained the face-swap model, so they are not fitted on).
* **Images another model was fitted on** (:func:`trained_elsewhere`): the
  AI probe ``aigen`` trains on the ``train`` split of its own rule
  (:mod:`tamperscope.train.aigen_data`: a hash of ``set/path``) over the
  authentic photos of most sets and the StyleGAN2 faces, and fits its
  Platt scaling, regularisation and thresholds on its ``calibrate`` split;
  images of either are ``excluded`` here whatever the rules above say (its
  score there is optimistic), and so are never hosts of synthetic images.

Classes: ``no-manipulation`` (authentic photos and controls), ``edited``
(CASIA and MICC forgeries, synthetic forgeries), ``ai-generated`` (sentry-ai,
comfyui-ai, StyleGAN2 faces), ``ai-edited`` (the synthetic AI edits only: no
development set holds real ones).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from .localizer_data import casia_groups, exif_camera_split, split_of_group

#: The verdict classes of manipulation, and the class of images without any.
MANIPULATIONS = ("edited", "ai-generated", "ai-edited")
NO_MANIPULATION = "no-manipulation"
PARTS = ("fit", "eval", "excluded")

#: What each split of the localizer is here.
CASIA_PART = {"train": "excluded", "calibrate": "fit", "test": "eval"}
EXIF_PART = {"train": "fit", "test": "eval"}
#: At most this many fitting images per (set, class), so one large set does not set the prior of a class alone.
MAX_FIT_PER_GROUP = 150

_MICC_SUFFIX = re.compile(r"(_scale.*|tamp\d+.*|_tamp.*|_copy_move.*)$", re.IGNORECASE)
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")


@dataclass(frozen=True)
class FitSample:
    """One image for fitting or judging the fusion."""

    path: Path
    dataset: str
    klass: str  # "no-manipulation", "edited", "ai-generated", "ai-edited"; else the set's own label (c2pa tests)
    part: str  # "fit", "eval" or "excluded"
    group: str  # what the part was decided by (a source photo, a file name)
    mask: Path | None = None

    @property
    def manipulated(self) -> bool:
        return self.klass != NO_MANIPULATION


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:16], 16) / 2**64


def half(key: str) -> str:
    """``fit`` or ``eval`` by a hash of ``key`` (sets no model trained on)."""
    return "fit" if _unit(f"tamperscope-fusion-split:{key}") < 0.5 else "eval"


def micc_group(name: str) -> str:
    """The source photo of a MICC-F220 file (``sony_61tamp131.jpg`` and ``sony_61_scale.jpg`` -> ``sony_61``)."""
    return _MICC_SUFFIX.sub("", Path(name).stem)


def _rows(folder: Path) -> list[dict[str, str]]:
    manifest = folder / "manifest.csv"
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _klass(label: str, ai_set: bool) -> str | None:
    label = label.strip().lower()
    if label in ("authentic", "real"):
        return NO_MANIPULATION
    if label in ("synthetic", "fake", "ai-generated"):
        return "ai-generated"
    if label in ("tampered", "edited"):
        return "ai-generated" if ai_set else "edited"
    return None


def development_samples(data_root: Path) -> list[FitSample]:
    """Every usable image of the development sets, with its class and part (module docstring)."""
    data_root = Path(data_root)
    found: list[FitSample] = []

    casia = data_root / "casia1"
    rows = _rows(casia)
    groups = casia_groups(r["image_path"] for r in rows)
    for row in rows:
        klass = _klass(row["label"], False)
        if klass is None:
            continue
        group = groups[row["image_path"]]
        mask = casia / row["mask_path"] if row.get("mask_path") else None
        found.append(FitSample(casia / row["image_path"], "casia1", klass, CASIA_PART[split_of_group(group)], group,
                               mask))

    exif = data_root / "exif-camera"
    for row in _rows(exif):
        if row.get("format") != "jpeg" or _klass(row["label"], False) != NO_MANIPULATION:
            continue
        split = exif_camera_split(row["image_path"])
        found.append(FitSample(exif / row["image_path"], "exif-camera", NO_MANIPULATION, EXIF_PART[split],
                               row["image_path"]))

    micc = data_root / "micc-f220"
    for row in _rows(micc):
        klass = _klass(row["label"], False)
        if klass is not None:
            group = micc_group(row["image_path"])
            found.append(FitSample(micc / row["image_path"], "micc-f220", klass, half("micc:" + group), group))

    for name in ("sentry-ai", "comfyui-ai", "faces-gan-vs-real"):
        folder = data_root / name
        for row in _rows(folder):
            label = row.get("label", "")
            if name == "comfyui-ai" and row["image_path"].startswith("inpaint_source/"):
                continue  # a photo with a region erased to transparency: an inpainting input, neither class
            klass = _klass(label, True)
            if klass is None:
                continue
            found.append(FitSample(folder / row["image_path"], name, klass, half(f"{name}:{row['image_path']}"),
                                   row["image_path"]))

    for name in ("c2pa-testfiles", "exiftool-fixtures", "faces-real-lfw", "faces-real-utkface"):
        folder = data_root / name
        rows = _rows(folder)
        if rows:
            for row in rows:
                # c2pa-testfiles and exiftool-fixtures are provenance and metadata tests: no class of their own.
                klass = _klass(row.get("label", ""), False) or row.get("label", "") or "unlabelled"
                found.append(FitSample(folder / row["image_path"], name, klass, "eval", row["image_path"]))
        elif folder.is_dir():
            for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
                found.append(FitSample(path, name, "unlabelled", "eval", path.name))
    seen = trained_elsewhere(data_root)
    return [replace(s, part="excluded") if s.path.resolve() in seen else s for s in found]


def trained_elsewhere(data_root: Path) -> dict[Path, str]:
    """Development images (resolved paths) that another shipped model was fitted on, and that model's name.

    CASIA v1's localizer components are excluded by the split rule above; this covers models that draw their
    training images by a rule of their own: the AI probe ``aigen`` (the ``train`` and ``calibrate`` splits of
    :func:`tamperscope.train.aigen_data.dev_samples`: its probes are trained on the first, their blend,
    regularisation and thresholds fitted on the second).
    """
    try:
        from .aigen_data import dev_samples as aigen_samples
    except ImportError:  # a checkout without the AI probe (issue 17 not merged): nothing of it to exclude
        return {}
    return {s.path.resolve(): "aigen" for s in aigen_samples(Path(data_root)) if s.split in ("train", "calibrate")}


def _made_from(folder: Path, inputs: dict) -> bool:
    """Whether ``folder`` was made from exactly ``inputs`` (the photos, counts and seed in ``inputs.json``)."""
    try:
        return json.loads((folder / "inputs.json").read_text(encoding="utf-8")) == inputs
    except (OSError, ValueError):
        return False


def _record_inputs(folder: Path, inputs: dict) -> None:
    (folder / "inputs.json").write_text(json.dumps(inputs, indent=0) + "\n", encoding="utf-8")


def hosts(samples: Iterable[FitSample], part: str) -> list[Path]:
    """Authentic camera photos of a part (CASIA, exif-camera, MICC): hosts of that part's synthetic forgeries."""
    return sorted(s.path for s in samples if s.part == part and s.klass == NO_MANIPULATION
                  and s.dataset in ("casia1", "exif-camera", "micc-f220") and s.path.is_file())


def synthetic_samples(samples: list[FitSample], work: Path, count: int, seed: int = 0,
                      log=lambda line: None) -> list[FitSample]:
    """Synthetic forgeries (and re-saved authentic controls) made from each part's authentic photos.

    ``count`` images per part, in ``work/synth-fit`` and ``work/synth-eval``; made once and reused while
    the photos, ``count`` and ``seed`` stay the same (the set is deterministic in them: a remade set has the
    same bytes, so the evidence cache still holds its images).
    """
    from ..synth import ALL_KINDS, Manifest, make_dataset

    kinds = [k for k in ALL_KINDS if k != "authentic"] + ["authentic"] * 2
    found = []
    for part in ("fit", "eval"):
        folder = Path(work) / f"synth-{part}"
        photos = hosts(samples, part)
        if not photos:
            continue
        inputs = {"photos": [p.name for p in photos], "count": count, "seed": seed}
        try:
            manifest = Manifest.read(folder)
            if len(manifest) != count or not _made_from(folder, inputs):
                raise FileNotFoundError
        except (OSError, ValueError, KeyError):
            log(f"making {count} synthetic images from {len(photos)} {part} photos in {folder}")
            (folder / "inputs.json").unlink(missing_ok=True)  # a set made half-way is not reused
            manifest = make_dataset(photos, folder, count=count, seed=seed, kinds=kinds, split=(1.0, 0.0, 0.0),
                                    overwrite=True)
            _record_inputs(folder, inputs)
        for item in manifest:
            klass = NO_MANIPULATION if item.label == "authentic" else "edited"
            found.append(FitSample(folder / item.image, f"synthetic-{part}", klass, part, item.source,
                                   folder / item.mask if item.mask else None))
    return found


def ai_edited_samples(samples: list[FitSample], work: Path, count: int, seed: int = 0,
                      log=lambda line: None) -> list[FitSample]:
    """``count`` photos per part with a pasted AI region (module docstring), in ``work/ai-edited-PART``; made once."""
    import io

    import cv2
    import numpy as np
    from PIL import Image as PILImage

    from ..synth.kinds import draw_save, encode

    found = []
    for part in ("fit", "eval"):
        photos = hosts(samples, part)
        donors = sorted(s.path for s in samples if s.part == part and s.klass == "ai-generated" and s.path.is_file())
        if not photos or not donors or count <= 0:
            continue
        folder = Path(work) / f"ai-edited-{part}"
        manifest = folder / "manifest.csv"
        inputs = {"photos": [p.name for p in photos], "donors": [p.name for p in donors], "count": count,
                  "seed": seed}
        if not manifest.is_file() or len(_rows(folder)) != count or not _made_from(folder, inputs):
            log(f"making {count} AI-edited images from {len(photos)} {part} photos and {len(donors)} AI images")
            (folder / "images").mkdir(parents=True, exist_ok=True)
            (folder / "inputs.json").unlink(missing_ok=True)  # a set made half-way is not reused
            (folder / "masks").mkdir(parents=True, exist_ok=True)
            rows = []
            for index in range(count):
                rng = np.random.default_rng([seed, index, PARTS.index(part), 21])
                host, donor = photos[int(rng.integers(len(photos)))], donors[int(rng.integers(len(donors)))]
                pixels, mask = _paste(_pixels(host, 1024), _pixels(donor, None), rng, cv2)
                save = draw_save(rng)
                name = f"{index:04d}-ai-edited.{'png' if save['format'] == 'PNG' else 'jpg'}"
                (folder / "images" / name).write_bytes(encode(pixels, save))
                buffer = io.BytesIO()
                PILImage.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
                (folder / "masks" / f"{index:04d}.png").write_bytes(buffer.getvalue())
                rows.append({"image_path": f"images/{name}", "mask_path": f"masks/{index:04d}.png",
                             "label": "ai-edited", "host": host.name, "donor": donor.name})
            with manifest.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            _record_inputs(folder, inputs)
        for row in _rows(folder):
            found.append(FitSample(folder / row["image_path"], f"ai-edited-{part}", "ai-edited", part, row["host"],
                                   folder / row["mask_path"]))
    return found


def _pixels(path: Path, size: int | None):
    """RGB pixels as stored (no EXIF rotation), the long side capped at ``size``."""
    import cv2
    import numpy as np
    from PIL import Image as PILImage

    with PILImage.open(path) as handle:
        pixels = np.asarray(handle.convert("RGB"))
    scale = 1.0 if size is None else min(1.0, size / max(pixels.shape[:2]))
    if scale < 1.0:
        pixels = cv2.resize(pixels, (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale)),
                            interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(pixels)


def _paste(photo, donor, rng, cv2):
    """A square of ``donor`` at native resolution, 45% of the photo's short side, pasted with a feathered edge."""
    import numpy as np

    h, w = photo.shape[:2]
    side = min(int(0.45 * min(h, w)), donor.shape[0], donor.shape[1])
    dy, dx = int(rng.integers(0, donor.shape[0] - side + 1)), int(rng.integers(0, donor.shape[1] - side + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    mask = np.zeros((h, w), np.float32)
    mask[y : y + side, x : x + side] = 1
    soft = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
    patch = np.zeros_like(photo, dtype=np.float32)
    patch[y : y + side, x : x + side] = donor[dy : dy + side, dx : dx + side]
    out = photo.astype(np.float32) * (1 - soft) + patch * soft
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), mask.astype(bool)


def fitting_subset(samples: list[FitSample], part: str = "fit") -> list[FitSample]:
    """The samples of ``part``, at most :data:`MAX_FIT_PER_GROUP` per (set, class) when fitting (a hash decides)."""
    chosen = [s for s in samples if s.part == part]
    if part != "fit":
        return chosen
    by_group: dict[tuple[str, str], list[FitSample]] = {}
    for sample in chosen:
        by_group.setdefault((sample.dataset, sample.klass), []).append(sample)
    kept = []
    for group in by_group.values():
        group.sort(key=lambda s: _unit(f"tamperscope-fusion-cap:{s.path.name}"))
        kept += group[:MAX_FIT_PER_GROUP]
    return sorted(kept, key=lambda s: (s.dataset, str(s.path)))
