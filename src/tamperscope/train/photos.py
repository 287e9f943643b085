"""Authentic photos for training and calibrating one-class detectors, with a fixed split.

The sources are the development sets of ``shared/data/dev`` (never copied into
the repository) and scikit-image's bundled photos. Every image goes to one
split by a hash of its source path, so the split never depends on the order or
on what else is present: ``train`` (half), ``calibrate`` (a quarter: score
thresholds) and ``test`` (a quarter: false alarms and AUCs).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: (folder under the data root, label kept, formats kept).
SOURCES = (
    ("exif-camera", "authentic", ("jpeg",)),
    ("casia1", "authentic", ("jpeg",)),
    ("micc-f220", "authentic", ("jpeg",)),
)
#: scikit-image photos of real scenes (the others are drawings, microscopy, astronomy or synthetic).
SKIMAGE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "rocket")
SPLITS = ("train", "train", "calibrate", "test")


@dataclass(frozen=True)
class Photo:
    key: str
    split: str
    path: Path | None = None
    skimage_name: str | None = None

    def pixels(self) -> np.ndarray:
        """RGB uint8 pixels, as tamperscope's loader decodes them."""
        from ..image import load

        if self.skimage_name is not None:
            from skimage import data

            array = getattr(data, self.skimage_name)()
            return np.repeat(array[..., None], 3, axis=2) if array.ndim == 2 else array[..., :3]
        return load(self.path).pixels


def split_of(key: str) -> str:
    return SPLITS[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(SPLITS)]


def photos(data_root: Path, splits: tuple[str, ...] = ("train",), skimage: bool = True) -> Iterator[Photo]:
    """Authentic photos of the given splits; scikit-image photos always count as ``train``."""
    for folder, label, formats in SOURCES:
        manifest = data_root / folder / "manifest.csv"
        if not manifest.is_file():
            continue
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle):
                fmt = (row.get("format") or "").lower() or row["image_path"].rsplit(".", 1)[-1].lower()
                if row["label"] != label or fmt.replace("jpg", "jpeg") not in formats:
                    continue
                key = f"{folder}/{row['image_path']}"
                if split_of(key) in splits:
                    yield Photo(key=key, split=split_of(key), path=data_root / folder / row["image_path"])
    if skimage and "train" in splits:
        for name in SKIMAGE_PHOTOS:
            yield Photo(key=f"skimage/{name}", split="train", skimage_name=name)
