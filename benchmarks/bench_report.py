"""``transferlab report`` on an FNE run of the 15-Scene test set (2,985 images): time and page size.

The run (efficientnet_lite0, every layer, ``--compare``) is made once and kept in ``--run`` (it takes
minutes; its time is ``setup_seconds``, not part of the measure).  Each round then runs
``transferlab report RUN`` as a user would, in a fresh process (start-up and imports included); the
median round is ``seconds``.  Targets: under 20 s on 2 cores, a page under 15 MB.

    python benchmarks/bench_report.py --json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "scene15"
DEFAULT_RUN = Path(tempfile.gettempdir()) / "transferlab-bench-report" / "scene15-fne"
TARGET_SECONDS, TARGET_MB = 20.0, 15.0


def ensure_run(args) -> float:
    """Make the FNE run unless ``--run`` already holds a complete one; its seconds (0 when kept)."""
    from transferlab.runs import is_complete

    if is_complete(args.run):
        return 0.0
    import transferlab as tl

    start = time.perf_counter()
    tl.fne(str(args.data), model=args.model, layers=args.layers, compare=True, out=str(args.run), overwrite=True,
           quiet=True)
    return time.perf_counter() - start


def one_round(args) -> tuple[float, dict]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "transferlab", "report", str(args.run), "--json"],
                         capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise RuntimeError(f"transferlab report failed: {out.stderr[-2000:]}")
    return seconds, json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--run", type=Path, default=DEFAULT_RUN, help="where the FNE run is made once and kept")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--layers", default="all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "src"))
    setup = ensure_run(args)
    rounds, info = [], {}
    for _ in range(args.rounds):
        s, info = one_round(args)
        rounds.append(s)
    seconds = statistics.median(rounds)
    html_mb = Path(info["html"]).stat().st_size / 1e6
    result = {"seconds": round(seconds, 2), "html_mb": round(html_mb, 2), "rounds": [round(r, 2) for r in rounds],
              "in_process_seconds": info.get("seconds"), "n_test": info.get("n_test"), "thumbnails": info.get("images"),
              "per_cell": info.get("per_cell"), "accuracy": info.get("accuracy"), "cores": os.cpu_count(),
              "setup_seconds": round(setup, 1), "run": str(args.run),
              "target_seconds": TARGET_SECONDS, "target_html_mb": TARGET_MB,
              "ok": seconds < TARGET_SECONDS and html_mb < TARGET_MB}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"report of {result['n_test']} test images: {seconds:.1f} s (rounds {result['rounds']}), "
              f"{html_mb:.1f} MB, {result['thumbnails']} thumbnails; targets < {TARGET_SECONDS:.0f} s, < {TARGET_MB:.0f} MB")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
