"""Analysis: metrics, floors, plots and the report of a trained run (docs/metrics.md).

:func:`evaluate` writes ``RUN_DIR/report/`` (``metrics.json``, ``report.md``, PNG
plots) for any system. ``metrics.json`` has one schema: ``iid``, ``md`` and
``data`` (training data), each with ``js``, ``pmf`` and ``n``, next to their
floors ``floor_iid`` and ``floor_md`` (the same metrics of a perfect model at the
same sample sizes and protocol), plus the system's extras (molecules:
``floor_reference``, ``bond_w1``, basin shares). Plots import matplotlib only when drawn.
"""

from ._floors import iid_sample_floor as iid_sample_floor
from ._floors import md_protocol_floor as md_protocol_floor
from ._floors import protocol_floor as protocol_floor
from ._floors import reference_splits as reference_splits
from ._molecular import TRAINING_AT_MD_SIZE as TRAINING_AT_MD_SIZE
from ._molecular import check_reference as check_reference
from ._molecular_metrics import bond_lengths as bond_lengths
from ._molecular_metrics import bond_w1 as bond_w1
from ._molecular_metrics import dihedral_metrics as dihedral_metrics
from ._molecular_metrics import md_frames as md_frames
from ._molecular_metrics import phi_positive as phi_positive
from ._molecular_metrics import phi_positive_blocks as phi_positive_blocks
from ._molecular_metrics import phi_positive_by_run as phi_positive_by_run
from ._protocols import large_sample as large_sample
from ._protocols import paper_protocol as paper_protocol
from ._protocols import protocols as protocols
from ._text import format_metric as format_metric
from ._text import held_out_text as held_out_text
from .metrics import compare_to_reference as compare_to_reference
from .metrics import histogram as histogram
from .metrics import js_divergence as js_divergence
from .metrics import pmf_error as pmf_error
from .report import evaluate as evaluate
from .report import fp_error_vs_time as fp_error_vs_time

__all__ = ["TRAINING_AT_MD_SIZE", "bond_lengths", "bond_w1", "check_reference", "compare_to_reference", "dihedral_metrics",
           "evaluate",
           "format_metric", "fp_error_vs_time", "held_out_text", "histogram", "iid_sample_floor", "js_divergence",
           "large_sample", "md_frames", "md_protocol_floor", "paper_protocol", "phi_positive", "phi_positive_blocks",
           "phi_positive_by_run", "pmf_error", "protocol_floor", "protocols", "reference_splits"]
