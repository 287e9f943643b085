"""What a scan's previews cost per image: bytes on disk and milliseconds, beside the decode and the analysis.

For each photo of a fixed set (real files of five size classes, below) the script measures, in one process:

* ``decode``: :func:`tamperscope.load` of the file (decoding, JPEG internals, metadata; best of 3, wall);
* ``analysis``: :func:`tamperscope.analyze` with the default profile, once (wall): what a scan worker spends on it;
* ``render``: :func:`tamperscope.scan.previews.render_previews` on that report (best of 5, wall and CPU): the part
  of a preview a worker adds;
* ``save``: :func:`tamperscope.scan.previews.save_previews` into a fresh folder (best of 5, wall): the part the
  scanning process adds before it commits the row;
* ``one-step resize``: ``cv2.resize(pixels, INTER_AREA)`` straight to 320 px (best of 3): what ``shrink``'s
  two steps save;
* the bytes of the preview JPEG and, for an image with a region, of its mask PNG.

The photos (none enters the repository; each class is skipped when absent):

* CASIA v1 tampered and authentic (384x256), ``../shared/data/dev/casia1`` (first 10 and 5 by name);
* MICC-F220 and MICC-F8multi, ``../shared/data/dev/micc-f220`` (first 4 of each by name);
* Debian's desktop backgrounds, ``/usr/share/backgrounds/*.jpg`` (first 6 by name);
* Dresden camera JPEGs (Nikon D200 and D70, 6-10 MP natural scenes), ``test/data/nat-jpg`` of the fetched mirror
  of polimi-ispl/prnu-python (the first 6 by name that the mirror holds, read with ``git show``).

The machine is shared: each record keeps the load average when it was measured, and the doc gives the preview's
time as a share of the same image's decode and analysis measured in the same process, which load inflates alike.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/scan_previews.py            # writes "## Scan previews" of docs/performance.md
    PYTHONPATH=src python benchmarks/scan_previews.py --no-write --limit 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, replace_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SECTION = "## Scan previews (cost per image)"
DATA = next((p for p in (ROOT.parent / "shared" / "data" / "dev", Path("/work/shared/data/dev")) if p.is_dir()),
            ROOT.parent / "shared" / "data" / "dev")
DRESDEN = Path("/work/.mirror/polimi-ispl+prnu-python/repo")


def photo_set(scratch: Path, limit: int | None) -> list[tuple[str, Path]]:
    """(class, path) of every photo measured, in a fixed order."""
    chosen: list[tuple[str, Path]] = []

    def first(folder: Path, pattern: str, count: int) -> list[Path]:
        return sorted(folder.glob(pattern))[:count] if folder.is_dir() else []

    chosen += [("CASIA v1 tampered", p) for p in first(DATA / "casia1" / "Tp", "*.jpg", 10)]
    chosen += [("CASIA v1 authentic", p) for p in first(DATA / "casia1" / "Au", "*.jpg", 5)]
    chosen += [("MICC-F220 / F8multi", p)
               for p in first(DATA / "micc-f220" / "MICC-F220", "*.jpg", 4)
               + first(DATA / "micc-f220" / "MICC-F8multi", "*.jpg", 4)]
    chosen += [("desktop backgrounds", p) for p in first(Path("/usr/share/backgrounds"), "*.jpg", 6)]
    if (DRESDEN / "HEAD").exists():
        # The natural scenes (nat-jpg), not the flat fields; only the files the mirror holds (large ones may be absent).
        listing = subprocess.run(["git", "--git-dir", str(DRESDEN), "ls-tree", "-l", "HEAD", "test/data/nat-jpg/"],
                                 capture_output=True, text=True, check=True).stdout.splitlines()
        present = [line.split("\t", 1)[1] for line in listing if line.split()[3].isdigit()]
        for name in sorted(present)[:6]:
            target = scratch / Path(name).name
            data = subprocess.run(["git", "--git-dir", str(DRESDEN), "show", f"HEAD:{name}"], capture_output=True,
                                  check=True).stdout
            target.write_bytes(data)
            chosen.append(("Dresden camera JPEGs", target))
    return chosen[:limit] if limit else chosen


def best(function, repeats: int) -> tuple[float, float]:
    """(best wall seconds, CPU seconds of that run) of ``repeats`` calls."""
    runs = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs)


def measure(path: Path, scratch: Path) -> dict:
    import cv2

    from tamperscope import analyze, load
    from tamperscope.scan.previews import preview_size, render_previews, save_previews

    decode, _ = best(lambda: load(path), 3)
    start = time.perf_counter()
    report = analyze(path)
    analysis = time.perf_counter() - start
    made = render_previews(report)
    render, render_cpu = best(lambda: render_previews(report), 5)
    folder = scratch / "previews"
    save, _ = best(lambda: save_previews(folder, report.image.sha256, made), 5)
    height, width = report.image.pixels.shape[:2]
    size = preview_size(height, width)
    one_step, _ = best(lambda: cv2.resize(report.image.pixels, size, interpolation=cv2.INTER_AREA), 3)
    return {"file": path.name, "load_average": os.getloadavg()[0], "megapixels": height * width / 1e6,
            "decode": decode, "analysis": analysis,
            "render": render, "render_cpu": render_cpu, "save": save, "one_step": one_step, "kind": made["kind"],
            "jpeg_bytes": len(made["image"]), "mask_bytes": len(made["mask"] or b""), "label": report.label}


def table(results: list[dict], classes: list[str]) -> list[str]:
    lines = ["| photos | n | MP (range) | decode | analysis | preview: render + save | of the analysis | "
             "of the decode | one-step resize instead | overlays | JPEG bytes (mean / max) | mask PNG bytes (mean) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    groups = [(name, [r for r in results if r["class"] == name]) for name in classes]
    groups.append(("all", results))
    for name, rows in groups:
        if not rows:
            continue
        cost = [r["render"] + r["save"] for r in rows]
        masks = [r["mask_bytes"] for r in rows if r["mask_bytes"]]
        label = f"**{name}**" if name == "all" else name
        lines.append(
            f"| {label} | {len(rows)} | "
            f"{min(r['megapixels'] for r in rows):.1f}-{max(r['megapixels'] for r in rows):.1f} | "
            f"{1000 * statistics.mean(r['decode'] for r in rows):.0f} ms | "
            f"{statistics.mean(r['analysis'] for r in rows):.2f} s | "
            f"{1000 * statistics.mean(cost):.1f} ms | "
            f"{100 * sum(cost) / sum(r['analysis'] for r in rows):.1f} % | "
            f"{100 * sum(cost) / sum(r['decode'] for r in rows):.0f} % | "
            f"{1000 * statistics.mean(r['one_step'] for r in rows):.1f} ms | "
            f"{sum(r['kind'] == 'overlay' for r in rows)} | "
            f"{statistics.mean(r['jpeg_bytes'] for r in rows) / 1024:.1f} / "
            f"{max(r['jpeg_bytes'] for r in rows) / 1024:.1f} KiB | "
            f"{(statistics.mean(masks) / 1024) if masks else 0:.2f} KiB |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="Measure only the first N photos (a quick check).")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "tamperscope-scan-previews.jsonl",
                        help="Results so far, one JSON line per photo: a rerun resumes from it.")
    parser.add_argument("--no-write", action="store_true", help="Print the table, leave docs/performance.md alone.")
    args = parser.parse_args()

    done = {}
    if args.cache.exists():
        for line in args.cache.read_text().splitlines():
            record = json.loads(line)
            done[record["file"]] = record
    with tempfile.TemporaryDirectory() as tmp:
        photos = photo_set(Path(tmp), args.limit)
        classes = list(dict.fromkeys(name for name, _ in photos))
        results = []
        for name, path in photos:
            key = path.name
            if key not in done:
                with tempfile.TemporaryDirectory(dir=tmp) as scratch:
                    record = {"class": name, **measure(path, Path(scratch))}
                with args.cache.open("a") as cache:
                    cache.write(json.dumps(record) + "\n")
                done[key] = record
                print(f"{name}: {path.name} {record['megapixels']:.1f} MP, preview "
                      f"{1000 * (record['render'] + record['save']):.1f} ms, analysis {record['analysis']:.2f} s, "
                      f"{record['jpeg_bytes']} + {record['mask_bytes']} bytes", flush=True)
            results.append({**done[key], "class": name})
    loads = [r["load_average"] for r in results]
    lines = table(results, classes)
    print("\n".join(lines))
    if args.no_write:
        return
    overall = sum(r["render"] + r["save"] for r in results) / len(results)
    per_image = sum(r["jpeg_bytes"] + r["mask_bytes"] for r in results) / len(results)
    text = "\n".join([
        SECTION,
        "",
        "Measured by `PYTHONPATH=src python benchmarks/scan_previews.py`: for each photo, in one process, the decode "
        "(`load`, best of 3), the analysis (`analyze`, default profile, once), and the previews a scan keeps: "
        "`render_previews` in the worker (shrink, overlay, encode; best of 5) plus `save_previews` in the scanning "
        "process (two files written and renamed into place; best of 5). Times are wall-clock means per image of each "
        "class; \"of the analysis\" and \"of the decode\" are the preview's share of the same images' times, "
        "measured alongside it. \"One-step resize instead\" is `cv2.resize(pixels, INTER_AREA)` straight to 320 px, "
        "which `shrink` replaces with a whole-number area step and a small one. \"Overlays\" counts the images "
        "with a region (heatmap overlay and mask PNG); the others get a plain thumbnail.",
        "",
        f"Machine: {cpu_model()}; {os.cpu_count()} cores visible, shared with other jobs (1-minute load average "
        f"{min(loads):.1f} to {max(loads):.1f} while it ran: absolute times are upper bounds, the shares are the "
        f"figures to read). Python {platform.python_version()}. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        *lines,
        "",
        f"Per image over all {len(results)} photos: **{per_image / 1024:.1f} KiB** on disk (preview JPEG, plus the "
        "mask "
        f"PNG where there is a region) and **{1000 * overall:.1f} ms** of wall time "
        f"({100 * sum(r['render'] + r['save'] for r in results) / sum(r['analysis'] for r in results):.1f} % of the "
        "analysis time). A million images keep about "
        f"{per_image * 1e6 / 1024 ** 3:.1f} GiB of previews.",
        "",
    ])
    replace_section(DOC, SECTION, text)
    print(f"wrote {SECTION!r} of {DOC}")


if __name__ == "__main__":
    sys.exit(main())
