"""``transferlab finetune`` under torchrun: 2 CPU processes, gloo, DistributedDataParallel; only rank 0 writes."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from conftest import HYMENOPTERA, needs_shared_data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@needs_shared_data("hymenoptera")
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed not available")
@pytest.mark.parametrize("freeze,augment", [("6", "light"), ("all", "none")])  # images through DDP; cached prefix
def test_torchrun_two_processes_gloo(tmp_path, freeze, augment):
    data = tmp_path / "data"
    for split, n in (("train", 6), ("val", 4)):  # 12 train images: 3 batches of 2 per rank and epoch
        for c in ("ants", "bees"):
            (data / split / c).mkdir(parents=True)
            for f in sorted((HYMENOPTERA / split / c).iterdir())[:n]:
                shutil.copy(f, data / split / c / f.name)
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
           "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
           "-m", "transferlab", "finetune", "--data", str(data), "--image-size", "48", "--epochs", "2",
           "--batch-size", "2", "--workers", "0", "--freeze", freeze, "--augment", augment, "--device", "cpu",
           "--out", str(run), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout  # only rank 0 prints its JSON object
    result = json.loads(lines[0])
    assert result["epochs_run"] == 2 and result["n_test"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["frozen_prefix_cache"].startswith("on" if augment == "none" else "off")
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    # 12 training images shared by 2 ranks: the epoch's images/s counts all 12 (all-reduced)
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["epoch"] == 2 and not any(k.startswith("module.") for k in ck["model"])
    # no stray files from rank 1 (temporary checkpoint names, duplicates)
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]
