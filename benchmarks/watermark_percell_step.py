"""Why the watermark's QIM step is chosen per image and not per cell: how stable is a per-cell class?

A Watson-style per-cell step would be derived from each cell's contrast at
protect time and re-derived from the received pixels at verify time. Every
cell whose class differs between the two decodes on the wrong lattice, i.e.
at random, and reads as tampered. This script measures, on the development
photos the watermark benchmark uses (every second one of its seeded pick),
the share of cells of the working grid whose 3-class contrast (grey-level
standard deviation of the cell below 2, 2-6, above 6) changes after JPEG 75
and after a 0.75 resize, the two processings verify must call intact.

Usage (from benchmarks/)::

    PYTHONPATH=../src python watermark_percell_step.py
"""

from __future__ import annotations

import numpy as np

from watermark_bench import photos, read

#: Class edges on the cell's grey-level standard deviation: flat / moderate / textured.
EDGES = (2.0, 6.0)


def contrast_class(pixels: np.ndarray, grid) -> np.ndarray:
    from tamperscope.watermark.scheme import cells_of, luminance, to_work

    return np.digitize(cells_of(to_work(luminance(pixels), grid), grid).std(axis=(2, 3)), EDGES)


def main() -> None:
    from tamperscope.watermark.attacks import jpeg, resize
    from tamperscope.watermark.scheme import SCHEME, choose_work_side, grid_for

    changed: dict[str, list[float]] = {"jpeg75": [], "resize0.75": []}
    for path in photos(20, 0)[::2]:
        original = read(path)
        shape = original.shape[:2]
        grid = grid_for(shape, choose_work_side(shape, SCHEME))
        before = contrast_class(original, grid)
        for name, processed in (("jpeg75", jpeg(original, 75)), ("resize0.75", resize(original, 0.75))):
            changed[name].append(float((contrast_class(processed, grid) != before).mean()))
    for name, shares in changed.items():
        print(f"{name}: cells whose contrast class changes: mean {np.mean(shares):.2%}, "
              f"max {np.max(shares):.2%} over {len(shares)} photos")


if __name__ == "__main__":
    main()
