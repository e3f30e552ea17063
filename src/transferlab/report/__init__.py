"""Reports of run folders: one self-contained ``report.html`` per run (``transferlab report RUN``, ``tl.report``).

- ``render.report``: picks the report by the run's manifest; ``classifier``: fne / probe / finetune runs;
  the word-space page is ``words.report`` (``transferlab words report``), the sweep's is ``sweep.report``;
- ``thumbs``: embedded JPEG thumbnails;
- ``config``: ``ReportConfig`` (what a page shows, and its bounds); ``cli``: ``transferlab report``.

Imports are lazy so that ``transferlab --help`` does not load matplotlib or torch.
"""

from transferlab._package import lazy_package

lazy_package(__name__, {
    "report": ".render",
    "ReportConfig": ".config",
}, call="transferlab.report.render:report")
