"""Comparing two versions of one picture: what differs beyond resizing, cropping, re-compression and grading.

>>> from tamperscope import compare
>>> result = compare("original.jpg", "viral.jpg")  # doctest: +SKIP
>>> result.label  # doctest: +SKIP
'changed'
>>> from tamperscope.comparison import write_comparison
>>> write_comparison(result, "diff/", formats="html")  # doctest: +SKIP

The flow (each step its own module):

1. :mod:`~tamperscope.comparison.align` - keypoints, robust fits, an a-contrario
   decision on whether the two show the same picture at all;
2. :mod:`~tamperscope.comparison.frame` - both images in the suspect's frame at
   a resolution both support;
3. :mod:`~tamperscope.comparison.tone`, :mod:`~tamperscope.comparison.difference`,
   :mod:`~tamperscope.comparison.changes` - global colour model, matching
   filter, noise model from the pair, candidate regions;
4. :mod:`~tamperscope.comparison.calibration` - the region threshold calibrated
   on benign pairs;
5. :mod:`~tamperscope.comparison.describe`, :mod:`~tamperscope.comparison.hints`,
   :mod:`~tamperscope.comparison.explain` - regions in words, which looks
   earlier, the grounded explanation;
6. :mod:`~tamperscope.comparison.report` - the report object and its JSON;
   :mod:`~tamperscope.comparison.write` and :mod:`~tamperscope.comparison.html` - its files and its page.
"""

from .pipeline import compare
from .report import COMPARISON_SCHEMA_VERSION, Comparison
from .write import write_comparison

__all__ = ["COMPARISON_SCHEMA_VERSION", "Comparison", "compare", "write_comparison"]
