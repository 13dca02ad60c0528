"""Reports: text tables (markdown, LaTeX, CSV, JSON) of per-task results, and
:func:`make_report` (``aioir report``): run folders in, one HTML page with tables and figures out.

>>> from aioir.report import format_cell
>>> format_cell({"psnr": 31.456, "ssim": 0.9})
'31.46/0.9000'
"""

from .build import make_report
from .tables import (
    INPUT_ROW,
    format_cell,
    latex_table,
    markdown_table,
    psnr_gains,
    results_table,
    validation_table,
)
from .writers import per_task_records, write_csv, write_json, write_results

__all__ = [
    "INPUT_ROW",
    "format_cell",
    "latex_table",
    "make_report",
    "markdown_table",
    "per_task_records",
    "psnr_gains",
    "results_table",
    "validation_table",
    "write_csv",
    "write_json",
    "write_results",
]
