"""The scan gallery at 100,000 rows: how long it takes to write, what it weighs, how fast the page is in Chromium.

The store is synthetic but shaped like a scan's: ``--rows`` rows (5 % edited with one to three regions, 80 %
"authentic", 15 % inconclusive, the last 2 % unscored), eight detectors with seeded random scores, one to two
paths each, and a preview row for every image. The preview files are hard links to two real previews (an overlay
with its mask, and a plain thumbnail) rendered by the scan's own code from a generated double-JPEG splice, so
every image of every page loads a real 320-pixel JPEG from disk and the folder costs almost no space (one copy
of each sample per shard folder: a file system caps the links to one file).

Timed:

* ``write_gallery`` on the store (wall, once; ``--reports`` does not apply: no report is written);
* in Debian's Chromium (headless, driven by Playwright), on a fresh tab each of ``--repeats`` times: the first
  page drawn (the page's own ``performance.now()`` when its script has put the cards in, from the start of the
  navigation) and every image of it decoded (wall, from the driver); then, on that tab: the next page, the last
  page (a data file not loaded yet), a label filter (loads the filter index), label and detector together, and
  the order reversed, each from the click to the page's "drawn" mark; the JS heap and the number of DOM
  elements after all of them.

Usage (from the repository root; Chromium at /usr/bin/chromium and the test extra for Playwright)::

    PYTHONPATH=src python benchmarks/gallery_scale.py              # writes "## Scan gallery" of docs/performance.md
    PYTHONPATH=src python benchmarks/gallery_scale.py --rows 5000 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, replace_section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
SECTION = "## Scan gallery (100,000 rows)"
CHROMIUM = "/usr/bin/chromium"
DETECTORS = ["dq", "ela", "noise", "blk", "ghost", "metadata", "c2pa", "invisible_wm"]


def build_store(folder: Path, rows: int, seed: int = 0) -> Path:
    """Write the synthetic store and its preview files (hard links) under ``folder``; returns the store's path."""
    sys.path.insert(0, str(ROOT / "tests"))
    from forgeries import double_jpeg_splice

    from tamperscope import analyze
    from tamperscope.scan import ResultStore, Row
    from tamperscope.scan.previews import image_name, mask_name, render_previews, save_previews

    double_jpeg_splice(folder / "spliced.jpg")
    overlay = render_previews(analyze(folder / "spliced.jpg"))
    assert overlay["kind"] == "overlay"
    plain = dict(overlay, kind="plain", mask=None, boxes=[])
    plain_record = save_previews(folder / "samples", "b" * 64, plain)
    overlay_record = save_previews(folder / "samples", "a" * 64, overlay)
    samples = {"overlay": (folder / "samples" / image_name("a" * 64), folder / "samples" / mask_name("a" * 64)),
               "plain": (folder / "samples" / image_name("b" * 64), None)}

    rng = random.Random(seed)
    db = folder / "big.sqlite"
    artifacts = folder / "big.sqlite.artifacts"
    with ResultStore(db) as store:
        store.set_artifacts_folder(artifacts)
        for shard in range(256):
            (artifacts / f"{shard:02x}").mkdir(parents=True, exist_ok=True)
        store._db.execute("BEGIN")
        for i in range(rows):
            sha = f"{rng.getrandbits(256):064x}"
            draw = rng.random()
            label = "edited" if draw < 0.05 else "authentic" if draw < 0.85 else "inconclusive"
            unscored = i % 50 == 49
            scores = {name: round(rng.random() ** 3, 3) for name in DETECTORS}
            if label == "edited":
                scores[rng.choice(DETECTORS[:5])] = round(0.6 + 0.4 * rng.random(), 3)
            regions = ([{"id": f"r{k}", "bbox": [10 * k, 10 * k, 50, 40], "share": 0.02,
                         "detectors": [max(scores, key=scores.get)]} for k in range(rng.randint(1, 3))]
                       if label == "edited" else [])
            folder_name = f"/data/photos/batch-{i // 1000:03d}"
            row = Row(sha256=sha, path=f"{folder_name}/IMG_{i:07d}.jpg", status="done", label=label,
                      score=None if unscored else max(scores.values()), width=4000, height=3000, format="JPEG",
                      regions=regions,
                      detectors={k: (v if not unscored else "not-applicable") for k, v in scores.items()},
                      profile="default", finished_at=time.time())
            kind = "overlay" if regions else "plain"
            record = overlay_record if regions else plain_record
            # One transaction for all rows (record() commits each; a real scan pays that per image anyway).
            store._db.execute(
                "INSERT INTO images (sha256, path, status, label, score, width, height, format, regions, detectors, "
                "profile, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row.sha256, row.path, row.status, row.label, row.score, row.width, row.height, row.format,
                 json.dumps(row.regions), json.dumps(row.detectors), row.profile, row.finished_at))
            store._db.execute("INSERT INTO paths VALUES (?, ?)", (row.path, sha))
            if i % 7 == 0:
                store._db.execute("INSERT INTO paths VALUES (?, ?)", (row.path.replace("IMG_", "copy-of-IMG_"), sha))
            store._db.execute("INSERT INTO previews VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (sha, kind, int(record.mask), record.width, record.height, record.bytes,
                               json.dumps(overlay["boxes"] if regions else [])))
            image, mask = samples[kind]
            os.link(_copy_for(image, sha[:2]), artifacts / image_name(sha))
            if mask is not None:
                os.link(_copy_for(mask, sha[:2]), artifacts / mask_name(sha))
        store._db.execute("COMMIT")
    return db


def _copy_for(sample: Path, shard: str) -> Path:
    """One copy of ``sample`` per shard to link from: a file system allows only so many links to one file."""
    copy = sample.with_name(f"{shard}-{sample.name}")
    if not copy.exists():
        shutil.copyfile(sample, copy)
    return copy


def folder_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def browse(page_path: Path, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync", "--enable-precise-memory-info"]
    runs = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            for _ in range(repeats):
                tab = browser.new_page(viewport={"width": 1280, "height": 900})
                errors = []
                tab.on("pageerror", lambda error: errors.append(str(error)))
                began = time.perf_counter()
                tab.goto(page_path.as_uri())
                tab.wait_for_selector("body[data-page-drawn]")
                drawn_at = float(tab.evaluate("() => document.body.getAttribute('data-drawn-at')"))
                tab.wait_for_function("() => Array.from(document.images).every(i => i.complete && i.naturalWidth)")
                images_done = time.perf_counter() - began
                result = {"first_page_drawn_ms": drawn_at, "first_page_images_ms": 1000 * images_done,
                          "cards": tab.locator("article.card").count()}

                def step(action) -> float:
                    before = tab.evaluate("() => [document.body.getAttribute('data-page-drawn'), performance.now()]")
                    action()
                    tab.wait_for_function("prev => document.body.getAttribute('data-page-drawn') !== prev",
                                          arg=before[0])
                    return float(tab.evaluate("() => document.body.getAttribute('data-drawn-at')")) - before[1]

                result["next_page_ms"] = step(lambda: tab.click("#next"))
                result["last_page_ms"] = step(lambda: tab.click("#last"))
                result["label_filter_ms"] = step(lambda: tab.select_option("#label", "edited"))
                result["label_and_detector_ms"] = step(lambda: tab.select_option("#detector", "dq"))
                result["order_reversed_ms"] = step(lambda: tab.select_option("#order", "asc"))
                result["heap_mib"] = tab.evaluate("() => performance.memory.usedJSHeapSize") / 2 ** 20
                result["dom_elements"] = tab.evaluate("() => document.getElementsByTagName('*').length")
                result["cards_after"] = tab.locator("article.card").count()
                result["errors"] = errors
                runs.append(result)
                tab.close()
        finally:
            browser.close()
    return {key: statistics.median(run[key] for run in runs) if isinstance(runs[0][key], (int, float)) else
            [run[key] for run in runs] for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from tamperscope.scan.gallery import CHUNK_ROWS, PAGE_SIZE, gallery_folder, write_gallery
    from tamperscope.scan.results import open_results

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        db = build_store(folder, args.rows)
        print(f"store of {args.rows:,} rows built in {time.perf_counter() - began:.1f} s", flush=True)
        with open_results(db) as store:
            began = time.perf_counter()
            page = write_gallery(store, folder / "gallery.html")
            write_s = time.perf_counter() - began
        files, data_bytes = folder_bytes(gallery_folder(page))
        page_bytes = page.stat().st_size
        index_bytes = next(gallery_folder(page).glob("*/index.js")).stat().st_size
        chunk_bytes = next(gallery_folder(page).glob("*/rows-00000.js")).stat().st_size
        print(f"gallery written in {write_s:.1f} s: page {page_bytes / 1024:.0f} KiB, {files} data files, "
              f"{data_bytes / 2 ** 20:.1f} MiB", flush=True)
        browsed = browse(page, args.repeats)
        print(json.dumps(browsed, indent=1))
    load_end = os.getloadavg()[0]
    if args.no_write:
        return
    b = browsed
    text = "\n".join([
        SECTION,
        "",
        f"Measured by `PYTHONPATH=src python benchmarks/gallery_scale.py` on a synthetic store of {args.rows:,} rows "
        "shaped like a scan's (5 % edited with regions, 80 % no evidence, 15 % inconclusive, 2 % unscored; eight "
        "detectors; a real 320-pixel preview per image, hard-linked). The page holds no card: its script draws "
        f"the visible {PAGE_SIZE} from data files of {CHUNK_ROWS} rows and loads the filter index only when a "
        f"filter is chosen. Chromium {CHROMIUM} headless, 1280x900, median of {args.repeats} fresh tabs.",
        "",
        f"Machine: {cpu_model()}; {os.cpu_count()} cores visible, shared with other jobs (load average "
        f"{load_start:.1f} at the start, {load_end:.1f} at the end: the times are upper bounds). Python "
        f"{platform.python_version()}. Date: {time.strftime('%Y-%m-%d')}.",
        "",
        "| what | measured |",
        "|---|---:|",
        f"| `tamperscope results gallery` (writing page and data, no report) | {write_s:.1f} s |",
        f"| page (HTML, CSS, script, counts, errors) | {page_bytes / 1024:.0f} KiB |",
        f"| data folder | {files} files, {data_bytes / 2 ** 20:.1f} MiB (one row file {chunk_bytes / 1024:.0f} KiB, "
        f"the filter index {index_bytes / 2 ** 20:.2f} MiB) |",
        f"| first page drawn (from the start of navigation) | {b['first_page_drawn_ms']:.0f} ms |",
        f"| first page with its {PAGE_SIZE} previews decoded (driver's wall clock) | "
        f"{b['first_page_images_ms']:.0f} ms |",
        f"| next page | {b['next_page_ms']:.0f} ms |",
        f"| last page (loads another data file) | {b['last_page_ms']:.0f} ms |",
        f"| filter by label (loads the filter index) | {b['label_filter_ms']:.0f} ms |",
        f"| filter by label and detector | {b['label_and_detector_ms']:.0f} ms |",
        f"| order reversed | {b['order_reversed_ms']:.0f} ms |",
        f"| cards in the page at any time | {int(b['cards_after'])} (at most {PAGE_SIZE}) |",
        f"| JS heap after all of the above | {b['heap_mib']:.1f} MiB |",
        f"| DOM elements | {int(b['dom_elements'])} |",
        "",
    ])
    replace_section(DOC, SECTION, text)
    print(f"wrote {SECTION!r} of {DOC}")


if __name__ == "__main__":
    sys.exit(main())
