"""``transferlab report RUN``: the typed config (what a report shows, and its bounds)."""
from __future__ import annotations

from transferlab.schema import Config, option, quiet_option


class ReportConfig(Config):
    """``transferlab report RUN``: one self-contained report.html for an fne, finetune, sweep or words run."""

    command = "report"
    dir: str = option(..., "a run folder: fne, probe, finetune, sweep, words report or words cluster", positional=True,
                      metavar="RUN")
    per_cell: int = option(12, "most images shown per confusion-matrix cell (its most confident mistakes)", ge=0,
                           metavar="N", group="bounds of the page")
    gallery: int = option(24, "images per gallery (most confident mistakes, least confident correct answers)",
                          ge=0, metavar="N", group="bounds of the page")
    queries: int = option(6, "FNE: test images shown with their nearest training images", ge=0, le=50, metavar="N",
                          group="bounds of the page")
    neighbours: int = option(6, "FNE: nearest training images per query", ge=1, le=20, metavar="K",
                             group="bounds of the page")
    max_images: int = option(1500, "most thumbnails in one page (96 px JPEG, about 3 KB each); the per-cell count "
                                   "shrinks to fit", ge=0, metavar="N", group="bounds of the page")
    run_reports: bool = option(True, "each finished run of a sweep also gets its own report, linked from the sweep's "
                                     "page", negate="--no-run-reports", negate_help="a sweep: only the sweep's page")
    quiet: bool = quiet_option()
