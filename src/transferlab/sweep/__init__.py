"""Transferability sweeps: a study of many ``fne`` / ``finetune`` runs described in one YAML file.

- ``config``: ``SweepConfig`` (executor, pool size, Slurm options); ``cli``: ``transferlab sweep``;
- ``spec``: expand a spec into runs, each validated by its command's config (``make_plan``,
  ``plan_from_file``); ``validate``: data, models, layers and block counts checked before anything runs;
- ``folders``: the state of the run folders; ``tasks``: grouping (FNE runs sharing an extraction);
  ``worker``: one task in one process; ``executors``: local pool, submitit / Slurm;
- ``runner.sweep``: the whole study (``tl.sweep``); ``results``: results.csv / .parquet;
  ``report.render_report``: the sweep's page, report.md / report.html and plots (``tl.report``).

Imports are lazy so that ``transferlab --help`` does not load torch or pandas.
"""

from transferlab._package import lazy_package

lazy_package(__name__, {
    "make_plan": ".spec",
    "plan_from_file": ".spec",
    "sweep": ".runner",
    "SweepResult": ".runner",
    "SweepConfig": ".config",
    "write_results": ".results",
    "load_plan": ".results",
    "render_report": ".report",
}, call="transferlab.sweep.runner:sweep")
