"""``transferlab sweep SPEC.yaml --out DIR`` and ``transferlab report DIR`` (see docs/sweep.md)."""
from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    """Add this capability's sub-commands to the ``transferlab`` parser."""
    from transferlab.sweep.runner import DEFAULT_MAX_RUNS, EXECUTORS

    p = subparsers.add_parser(
        "sweep", help="run a study: a grid or list of fne / finetune runs (resumable), one results table",
        description="Run every run of SPEC.yaml that DIR does not already hold complete: each in DIR/runs/NAME, "
                    "failures recorded and the others continued; then write DIR/results.csv and results.parquet. "
                    "FNE runs that share backbone and data extract their features once. See docs/sweep.md.")
    p.add_argument("spec", metavar="SPEC.yaml", help="the study: command, base options, grid and/or runs")
    p.add_argument("--out", required=True, metavar="DIR", help="sweep folder (rerunning completes only missing runs)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local process pool (default), slurm (submitit job array), or submitit's local/debug "
                        "executors (the Slurm code path without a cluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local pool size (default: one process per GPU, else per CPU core)")
    p.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS, metavar="N",
                   help="refuse to start more than N runs (default %(default)s)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and their status; run nothing")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    g = p.add_argument_group("slurm (--executor slurm)")
    g.add_argument("--partition", help="Slurm partition")
    g.add_argument("--time", help="time limit per job: minutes, HH:MM:SS or D-HH:MM:SS")
    g.add_argument("--gpus-per-node", type=int, default=None, help="GPUs per job")
    g.add_argument("--cpus-per-task", type=int, default=None, help="CPU cores per job")
    g.add_argument("--array-parallelism", type=int, default=None, help="jobs of the array running at once")
    p.set_defaults(func=run_sweep_cmd)

    q = subparsers.add_parser(
        "report", help="render a sweep: Yosinski curve, FNE layer table, Markdown + HTML summary",
        description="Refresh DIR/results.csv/.parquet from the run folders and render DIR/report.md and "
                    "DIR/report.html with the results table and plots: accuracy vs K transferred/frozen (one "
                    "line per setting) for fine-tuning runs, accuracy per layer setting vs the full embedding "
                    "for FNE runs.")
    q.add_argument("dir", metavar="DIR", help="a sweep folder")
    q.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    q.set_defaults(func=run_report_cmd)


def run_sweep_cmd(args) -> int:
    from transferlab.sweep.runner import run_sweep

    slurm = {"partition": args.partition, "time": args.time, "gpus_per_node": args.gpus_per_node,
             "cpus_per_task": args.cpus_per_task, "array_parallelism": args.array_parallelism}
    if args.max_runs is not None and args.max_runs < 0:
        from transferlab.errors import BadInputError

        raise BadInputError("--max-runs must be >= 0")
    summary = run_sweep(args.spec, args.out, executor=args.executor, workers=args.workers, max_runs=args.max_runs,
                        dry_run=args.dry_run, slurm=slurm)
    if args.json:
        print(json.dumps(summary, default=str))
        return 0
    if args.dry_run:
        print(f"sweep {summary['name']}: {summary['n_runs']} runs, {summary['complete_before']} complete, "
              f"{summary['to_run']} would run")
        for r in summary["runs"]:
            print(f"  {r['status']:7s} {r['name']}")
            print(f"          {r['command_line']}")
        return 0
    print(f"sweep {summary['name']}: {summary['done']} done, {summary['failed']} failed, {summary['missing']} missing "
          f"of {summary['n_runs']} ({summary['to_run']} run now, {summary['seconds']:.0f} s)")
    width = max((len(r["run"]) for r in summary["runs"]), default=10)
    for r in summary["runs"]:
        acc = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "  -   "
        print(f"  {r['run']:<{width}}  {r['status']:7s}  {acc}  {r['error'] or ''}")
    print(f"results: {summary['results_csv']}  {summary['results_parquet']}")
    print(f"next: transferlab report {summary['out']}")
    if summary["failed"]:
        print(f"{summary['failed']} run(s) failed: see error.json in their folders; rerun the same command to "
              "retry them (complete runs are skipped)", file=sys.stderr)
    return 0


def run_report_cmd(args) -> int:
    from transferlab.sweep.report import render_report

    info = render_report(args.dir)
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    print(f"{info['name']}: {info['done']} done, {info['failed']} failed, {info['missing']} missing of "
          f"{info['n_runs']} runs")
    for line in info.get("text", []):
        print(line)
    print(f"report: {info['markdown']}  {info['html']}")
    for p in info["plots"]:
        print(f"plot: {p}")
    return 0
