"""Fit the null model of copymove_sift's test c on calibration photos that no benchmark uses.

The calibration photos are public camera photos listed by repository, commit, path and SHA-256 in
``benchmarks/copymove-calibration-recipe.csv`` (drewnoakes/metadata-extractor-images: camera sample JPEGs, "free to
use however you wish"; polimi-ispl/prnu-python: the Dresden Image Database natural images of its tests, many of
buildings); no image is committed. They are rebuilt from local clones (``--clones``, a folder holding
``owner+name/repo`` bare mirrors or ``owner/name`` clones), then used twice as authentic images: as they are
(analysed on the detector's 2 MP working copy) and through ``tamperscope synth``'s save chain (authentic controls,
long side 1024, seed 1). The same run makes copy-moves from them (``tamperscope synth`` kind copy-move) to report
the detection rate the fitted model leaves.

For every authentic image, the candidate transformations that pass tests a and b (not chance, not periodic) give
their counts of exact inliers; the image's strongest is ``m``. The null model is the step function
``n(s) = #{images with m >= s}`` over the ``N`` authentic images (``NFA(s) = (1 + n(s)) / (1 + N)`` in the detector).
Prints the constants to put in ``copymove_sift.py`` (``NULL_IMAGES``, ``NULL_STEPS``), the fewest exact inliers
called a clone at the detector's ``epsilon``, and the rates on the calibration images themselves; with ``--write``, replaces its
section of docs/benchmarks.md.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/copymove_calibrate.py --clones /work/.mirror [--work /tmp/copymove-calibration]
    PYTHONPATH=src python benchmarks/copymove_calibrate.py --clones /work/.mirror --write-recipe   # list the photos
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np

from _machine import replace_section, shard_spec

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "benchmarks" / "copymove-calibration-recipe.csv"
SECTION = "## Copy-move (keypoints): calibration of the null model (issue #16)"
SOURCES = (
    # repository, folder, licence
    ("drewnoakes/metadata-extractor-images", "jpg/", "free to use however you wish (README)"),
    ("polimi-ispl/prnu-python", "test/data/nat-jpg/", "Dresden Image Database test images (research use)"),
)


def write_recipe(clones: Path) -> None:
    """List every camera JPEG of the sources that decodes completely and has a short side of at least 256 px."""
    from PIL import Image as PILImage

    from tamperscope.train.recipe import RecipeEntry, find_repository, read_blob, sha256_bytes, write_recipe

    entries = []
    for repository, folder, licence in SOURCES:
        repo = find_repository(clones, repository)
        if repo is None:
            raise SystemExit(f"error: no local clone of {repository} under {clones}")
        git_dir = repo / ".git" if (repo / ".git").exists() else repo
        commit = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        listing = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", commit, folder],
                                 capture_output=True, text=True, check=True).stdout.splitlines()
        for path in listing:
            if not path.lower().endswith((".jpg", ".jpeg")) or "/ImageTestSuite/" in path:
                continue
            try:
                data = read_blob(repo, commit, path)
                with PILImage.open(io.BytesIO(data)) as im:
                    im.load()
                    if min(im.size) < 256:
                        continue
            except Exception:  # absent blob (LFS, snapshot), truncated or unreadable file: not a calibration photo
                continue
            group = Path(path).stem if repository.startswith("drewnoakes") else "Dresden"
            entries.append(RecipeEntry(repository, commit, path, sha256_bytes(data), "authentic", group, licence))
    write_recipe(entries, RECIPE)
    print(f"{len(entries)} photos written to {RECIPE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clones", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/copymove-calibration"))
    parser.add_argument("--write-recipe", action="store_true")
    parser.add_argument("--write", action="store_true", help="replace the section of docs/benchmarks.md")
    parser.add_argument("--shard", default="0/1", type=shard_spec,
                        help="I/N: analyse every N-th image from the I-th (parallel runs)")
    args = parser.parse_args()
    if args.write_recipe:
        write_recipe(args.clones)
        return
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2

    cv2.setNumThreads(1)
    from tamperscope.detectors import create
    from tamperscope.detectors.base import NotApplicable
    from tamperscope.image import load
    from tamperscope.synth import make_dataset
    from tamperscope.train.recipe import materialize, read_recipe

    started = time.time()
    entries = read_recipe(RECIPE)
    photos, problems = materialize(entries, args.clones, args.work / "photos")
    if problems:
        print(f"{len(problems)} recipe files could not be rebuilt, e.g. {problems[0]}")
    if not photos:
        parser.error(f"no calibration photo could be rebuilt from the clones under {args.clones}")
    synth = args.work / "synth"
    if not (synth / "manifest.csv").is_file():
        make_dataset(photos, synth, count=2 * len(photos), seed=1, size=1024, kinds=["copy-move", "authentic"],
                     overwrite=True)
    import csv

    with (synth / "manifest.csv").open(newline="") as handle:
        made = list(csv.DictReader(handle))
    images = [("photo", p, "authentic") for p in photos]
    images += [("synth", synth / r["image"], "tampered" if r["label"] in ("1", "tampered") else "authentic")
               for r in made]

    detector = create("copymove_sift")
    shard, shards = args.shard
    cache_path = args.work / f"candidates-{shard}.jsonl"
    done = {}
    for path in args.work.glob("candidates-*.jsonl"):
        for line in path.read_text().splitlines():
            item = json.loads(line)
            done[item["path"]] = item
    with cache_path.open("a") as cache:
        for number, (kind, path, label) in enumerate(images):
            if str(path) in done or number % shards != shard:
                continue
            record = {"path": str(path), "kind": kind, "label": label, "exact": [], "status": "ok"}
            try:
                luma, _ = detector.working_luma(load(path))
                found = detector.search(luma).candidates
                record["exact"] = [c.exact_inliers for c in found if c.log10_nfa_geometric < 0 and not c.periodic]
            except NotApplicable as exc:
                record["status"] = f"not applicable: {exc}"
            except Exception as exc:  # an unreadable photo is reported, not fatal
                record["status"] = f"failed: {exc}"
            done[str(path)] = record
            cache.write(json.dumps(record) + "\n")
            cache.flush()
            if number % 50 == 0:
                print(f"{number}/{len(images)} {path}", flush=True)

    missing = [str(p) for _, p, _ in images if str(p) not in done]
    if missing:
        print(f"{len(missing)} images not analysed yet (other shards still running?): no fit")
        return
    records = [done[str(p)] for _, p, _ in images]
    authentic = [r for r in records if r["label"] == "authentic"]
    tampered = [r for r in records if r["label"] == "tampered"]
    minimum = detector.min_inliers
    strongest = [max(r["exact"], default=0) for r in authentic]
    values = sorted({m for m in strongest if m >= minimum})
    steps = [(minimum, sum(m >= minimum for m in strongest))]
    steps += [(v + 1, sum(m >= v + 1 for m in strongest)) for v in values]
    total = len(authentic)
    threshold = next((s for s, n in steps if (1 + n) / (1 + total) <= detector.epsilon), steps[-1][0])

    def flagged(r):
        return any(s >= threshold for s in r["exact"])

    def share(rows):
        hits = sum(map(flagged, rows))
        return f"{hits / max(len(rows), 1):.1%} ({hits}/{len(rows)})"

    photo_rows = [r for r in authentic if r["kind"] == "photo"]
    control_rows = [r for r in authentic if r["kind"] == "synth"]
    steps_text = ", ".join(f"({s}, {n})" for s, n in steps)
    text = f"""{SECTION}

`PYTHONPATH=src python benchmarks/copymove_calibrate.py --clones /work/.mirror` ({time.strftime('%Y-%m-%d')}):
{len(photos)} calibration photos from `benchmarks/copymove-calibration-recipe.csv` ({', '.join(s[0] for s in SOURCES)}),
analysed as they are (2 MP working copy) and as synthetic authentic controls (long side 1024), {total} authentic images
in all; none of them is in any benchmark set. {sum(m >= minimum for m in strongest)} of them hold a candidate that is
neither chance nor periodic, with at least {minimum} exact inliers (exact: ZNCC >= {detector.exact_zncc}).

Null model (`NULL_IMAGES = {total}`, `NULL_STEPS` = ((s, n), ...) = {steps_text}): at epsilon = {detector.epsilon} a
candidate needs at least **{threshold} exact inliers** to be called a clone.

| calibration images | called a clone |
|---|---|
| photos as they are (2 MP working copy) | {share(photo_rows)} |
| authentic controls (synth save chain, long side 1024) | {share(control_rows)} |
| synthetic copy-moves made from the same photos | {share(tampered)} |
"""
    print(text)
    print(f"NULL_IMAGES = {total}\nNULL_STEPS = ({steps_text},)")
    (args.work / "calibration.md").write_text(text)
    if args.write:
        replace_section(ROOT / "docs" / "benchmarks.md", SECTION, text)


if __name__ == "__main__":
    main()
