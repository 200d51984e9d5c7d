"""Analysis: metrics, plots and reports."""

from .metrics import compare_to_reference as compare_to_reference
from .metrics import histogram as histogram
from .metrics import js_divergence as js_divergence
from .metrics import pmf_error as pmf_error
