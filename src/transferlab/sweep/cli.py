"""``transferlab sweep SPEC.yaml --out DIR`` (see docs/sweep.md); ``transferlab report`` is ``transferlab.report.cli``."""
from __future__ import annotations

import json
import sys

from transferlab.cli_args import command, config_from_args
from transferlab.sweep.config import SweepConfig


def fill_sweep(p) -> None:
    command(p, SweepConfig, run_sweep_cmd,
            "Check the whole grid of SPEC.yaml (every option, the data, the models, the layer names, the block "
            "counts), then run every run that DIR does not already hold complete, each in DIR/runs/NAME; failures "
            "are recorded and the others continue; then write DIR/results.csv and results.parquet. FNE runs that "
            "share backbone and data extract their features once. The exit status is 2 when a run failed on bad "
            "input, 1 when one failed on a bug. See docs/sweep.md.",
            ["transferlab sweep examples/fne_layers_fashion_mnist.yaml --out runs/fne-layers",
             "transferlab sweep spec.yaml --out runs/s --dry-run"])


PARSERS = {"sweep": fill_sweep}


def run_sweep_cmd(args) -> int:
    from transferlab.sweep.runner import sweep

    result = sweep(config=config_from_args(SweepConfig, args))
    summary = result.summary
    if args.json:
        print(json.dumps(summary, default=str))
    elif summary.get("runs") is not None and "done" not in summary:  # --dry-run
        print(f"sweep {summary['name']}: {summary['n_runs']} runs, {summary['complete_before']} complete, "
              f"{summary['to_run']} would run (the whole grid was checked)")
        for r in summary["runs"]:
            print(f"  {r['status']:7s} {r['name']}")
            print(f"          {r['command_line']}")
        return 0
    else:
        print(f"sweep {summary['name']}: {summary['done']} done, {summary['failed']} failed, "
              f"{summary['missing']} missing of {summary['n_runs']} ({summary['to_run']} run now, "
              f"{summary['seconds']:.0f} s)")
        width = max((len(r["run"]) for r in summary["runs"]), default=10)
        for r in summary["runs"]:
            acc = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "  -   "
            print(f"  {r['run']:<{width}}  {r['status']:7s}  {acc}  {r['error'] or ''}")
        print(f"results: {summary['results_csv']}  {summary['results_parquet']}")
        print(f"next: transferlab report {summary['out']}")
    if summary.get("failed"):
        print(f"transferlab sweep: error: {summary['failed']} of {summary['n_runs']} run(s) failed: see error.json "
              "in their folders; rerun the same command to retry them (complete runs are skipped)", file=sys.stderr)
        return 2 if result.failures_are_user_errors else 1
    return 0
