"""benchmarks/bench_extract.py keeps its JSON contract (the keys README.md's benchmark table reads).

One round on a small real dataset at 64 px, no memory subprocesses: what it checks is that the
benchmark runs and reports every engine of this machine, not its figures (those are benchmarks' own).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_extract.py"


@pytest.mark.slow
def test_bench_extract_reports_every_engine(small_folder, tmp_path):
    env = dict(os.environ, TRANSFERLAB_CACHE=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, str(BENCH), "--data", str(small_folder), "--image-size", "64",
                          "--batch-size", "8", "--workers", "0", "--rounds", "1", "--no-memory", "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert result["eager_forward_ips"] > 0 and result["pipeline_only_ips"] > 0
    assert {"torch-fp32", "onnxruntime-fp32", "openvino-fp32"} <= set(result["backends"])
    for engine in result["backends"].values():
        assert engine["end_to_end_ips"] > 0
        ratio = engine["end_to_end_ips"] / result["eager_forward_ips"]
        assert abs(engine["speedup"] - ratio) <= 0.01 * ratio + 1e-3
    assert result["best_fp32_speedup"] == max(b["speedup"] for name, b in result["backends"].items()
                                              if name.endswith("fp32"))
    assert (result["best_bf16_speedup"] is None) == (not result["bf16_supported"])
