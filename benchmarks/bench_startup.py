"""Start-up time: ``transferlab --help``, ``transferlab fne --help`` and ``python -c "import transferlab"``.

Each is a fresh process, timed as a whole (interpreter start included), in alternating rounds so a
busy moment of the shared machine hits all of them alike; the best round of each is reported (the
fastest a process can start here) next to the median.  Targets: ``help_s`` (the slower of the two
help pages) < 1.0 s, ``import_s`` < 0.2 s; ``torch_imported_for_help`` must be false.

    python benchmarks/bench_startup.py --json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "help": [sys.executable, "-m", "transferlab", "--help"],
    "fne_help": [sys.executable, "-m", "transferlab", "fne", "--help"],
    "import": [sys.executable, "-c", "import transferlab"],
}
PROBE = ("import sys, runpy; sys.argv = ['transferlab', 'fne', '--help']\n"
         "try:\n    runpy.run_module('transferlab', run_name='__main__')\nexcept SystemExit:\n    pass\n"
         "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    for cmd in COMMANDS.values():  # warm the file cache and the bytecode once
        timed(cmd)
    times: dict[str, list[float]] = {k: [] for k in COMMANDS}
    for r in range(args.rounds):
        order = list(COMMANDS) if r % 2 == 0 else list(reversed(COMMANDS))
        for key in order:
            times[key].append(timed(COMMANDS[key]))
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    best = {k: min(v) for k, v in times.items()}
    result = {
        "help_s": round(max(best["help"], best["fne_help"]), 3),
        "import_s": round(best["import"], 3),
        "targets": {"help_s": 1.0, "import_s": 0.2},
        "best_s": {k: round(v, 3) for k, v in best.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in times.items()},
        "torch_imported_for_help": "NO-TORCH" not in probe.stderr,
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
