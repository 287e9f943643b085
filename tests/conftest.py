import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


#: Debian's Chromium, driven by Playwright for Python (never a browser Playwright downloads).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium for the browser tests; they skip where Playwright or Chromium is missing."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian package 'chromium')")
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def plumbing_fusion(tmp_path_factory):
    """Pin the fusion to a declared model in which each default-profile detector decides at its own score 0.5.

    For tests of the plumbing (API, CLI, reports, narration, scan results) that need an image the verdict calls
    ``edited`` with a region: the test forgeries' evidence (a q60-in-q90 splice: dq 0.62, blk 0.94) sits near the
    shipped fitted model's decision, and a refit (``tamperscope train fusion``) may move it to either side. The
    shipped model's own behaviour is tested in test_fusion_calibrated.py and test_verdict.py, which do not use
    this. Set through ``$TAMPERSCOPE_FUSION_MODEL``, so CLI subprocesses read it too; module-scoped, so a module's
    own fixtures that analyze images name it as a parameter to run after it.
    """
    import json

    from tamperscope.fusion import ANY, MANIPULATIONS, MODEL_ENV, TERMS, columns
    from tamperscope.train.fusion import modelled

    detectors = modelled("default")
    cols = columns(detectors)
    # logit = 10 * (score - 0.5) for a score toward "edited": probability 0.5 exactly at the detector's own 0.5.
    edited = {"coef": [10.0 if klass == "edited" and term == "score" else 0.0 for _, term, klass in cols],
              "intercept": -5.0}
    # A pixel is manipulated when its map times the detector's score passes 3/8 (a map at 0.75 from a detector
    # at 0.5, or at 0.6 from a detector at 0.62).
    pixel = {"coef": [8.0] * len(detectors) + [0.0] * len(detectors), "intercept": -3.0}
    model = {"name": "plumbing", "detectors": detectors, "terms": list(TERMS),
             "image": {**{k: None for k in MANIPULATIONS}, "edited": edited, ANY: edited}, "pixel": pixel}
    path = tmp_path_factory.mktemp("fusion") / "fusion.json"
    path.write_text(json.dumps({"rule": "calibrated-v3", "models": [model]}), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MODEL_ENV, str(path))
        yield path
