"""Transferability sweeps: a study of many ``fne`` / ``finetune`` runs described in one YAML file.

Python API (what ``transferlab sweep`` and ``transferlab report`` call)::

    from transferlab.sweep import plan_from_file, run_sweep, render_report
    summary = run_sweep("examples/fne_layers_fashion_mnist.yaml", "runs/fne-layers")
    info = render_report("runs/fne-layers")   # report.md, report.html, plots

- ``make_plan(spec_dict)`` / ``plan_from_file(path)``: expand and validate a spec into ``Plan.runs``;
- ``run_sweep(spec_or_plan, out, executor=..., workers=..., max_runs=..., dry_run=...)``;
- ``write_results(out, plan)``: results.csv / results.parquet from the run folders;
- ``render_report(out)``.

Imports are lazy so that ``transferlab --help`` does not load torch or pandas.
"""

__all__ = ["make_plan", "plan_from_file", "run_sweep", "render_report", "write_results", "load_plan"]


def __getattr__(name):
    if name in ("make_plan", "plan_from_file"):
        from transferlab.sweep import spec

        return getattr(spec, name)
    if name == "run_sweep":
        from transferlab.sweep.runner import run_sweep

        return run_sweep
    if name in ("write_results", "load_plan"):
        from transferlab.sweep import results

        return getattr(results, name)
    if name == "render_report":
        from transferlab.sweep.report import render_report

        return render_report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
