"""Synthetic forgeries with exact masks, made from authentic photos.

>>> from tamperscope.synth import make_dataset
>>> manifest = make_dataset("photos/", "dataset/", count=800, seed=0)  # doctest: +SKIP

writes::

    dataset/images/000000-splice.jpg      the images (.jpg or .png)
    dataset/masks/000000-splice.png       8-bit, 255 = manipulated (none for authentic)
    dataset/manifest.csv                  image,mask,label,kind,source,split,params
    dataset/recipe.json                   seed, arguments, versions, source names + sha256

The photos themselves are never copied: ``recipe.json`` names them and gives
their sha256.

Pipeline of one image
---------------------
1. The host photo is decoded (stored orientation; EXIF rotation not applied)
   and, when its long side exceeds ``size``, downscaled with ``INTER_AREA``.
   Nothing else happens to it before the forgery.
2. The kind's recipe (:mod:`tamperscope.synth.kinds`) makes the pixels, the
   mask and ``params``; see each function for its parameter ranges.
3. The final save, drawn from one distribution for every kind: PNG with
   probability 0.15, otherwise a baseline JPEG at an integer quality uniform
   in 70-95 with 4:2:0 (0.8) or 4:4:4 (0.2) chroma subsampling.

How the authentic controls are matched
--------------------------------------
Authentic controls are the same photos through steps 1 and 3. The two
double-JPEG kinds must end as a JPEG (their final save is the Q2 of the
recipe), so they draw from the same distribution conditioned on JPEG: the
same quality and subsampling law, no PNG. To keep the pooled tampered images
and the controls alike, controls draw PNG with probability 0.15 times the
share of tampered kinds that may end as PNG (0.15 x 5/7 = 0.107 with every
kind); given JPEG, every image's quality and subsampling come from the same
law. Resizing is the same for all. The region of a double-JPEG forgery is
pasted into the uncompressed photo, so outside the region such an image is,
like a control, compressed once (at Q2).

Splits
------
By source photo: every image made from a host goes to that photo's split,
decided by a hash of the photo's content and the seed (:func:`split_of`).
A splice's donor is drawn from the host's split when that split holds
another photo (``params["donor_split"]`` says when it could not).

Determinism
-----------
Each image has its own generators, derived with ``numpy.random.SeedSequence``
from the seed, the kind's name, the host photo's content hash and the
(kind, photo) occurrence, so adding kinds or photos does not change the
recipe drawn for an existing (kind, photo, occurrence). The same photos,
arguments and seed give byte-identical files with the same numpy, OpenCV and
Pillow versions (recorded in ``recipe.json``).
"""

from .dataset import MIN_SHORT_SIDE, SPLITS, Manifest, Sample, make_dataset, plan, split_of
from .kinds import (
    ALL_KINDS,
    JPEG_QUALITY,
    KINDS,
    OBJECT_KINDS,
    PNG_SHARE,
    SUBSAMPLING,
    Kind,
    authentic,
    color,
    copy_move,
    double_jpeg_aligned,
    double_jpeg_nonaligned,
    draw_save,
    encode,
    jpeg_roundtrip,
    removal,
    resample,
    splice,
)

__all__ = [
    "ALL_KINDS",
    "JPEG_QUALITY",
    "KINDS",
    "MIN_SHORT_SIDE",
    "Kind",
    "Manifest",
    "PNG_SHARE",
    "SPLITS",
    "SUBSAMPLING",
    "Sample",
    "authentic",
    "color",
    "copy_move",
    "double_jpeg_aligned",
    "double_jpeg_nonaligned",
    "draw_save",
    "encode",
    "jpeg_roundtrip",
    "OBJECT_KINDS",
    "make_dataset",
    "plan",
    "removal",
    "resample",
    "splice",
    "split_of",
]
