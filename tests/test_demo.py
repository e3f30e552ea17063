"""`transferlab demo`: every part runs offline, says where its reports are, and can be run again."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli


@pytest.mark.slow
def test_quick_demo_runs_every_part_twice_and_lists_existing_reports(tmp_path, capsys):
    for _ in range(2):  # a second demo replaces the first one's runs
        code, out, err = run_cli(["demo", "--quick", "--json", "--out", tmp_path / "demo"], capsys)
        assert code == 0
        result = json.loads(out)  # --json: one object on stdout, the readable lines on stderr
        assert set(result) == {"fne", "finetune", "words"}
        assert "Reports:" in err and "head only" in err
    for part in result.values():
        for path in part["reports"].values():
            assert Path(path).is_file(), path
    fne, ft = result["fne"], result["finetune"]
    assert 0.1 < fne["accuracy_last"] <= 1 and 0.1 < fne["accuracy_all"] <= 1
    for key in ("head-only", "full", "scratch"):
        assert 0 <= ft[key]["accuracy"] <= 1 and ft[key]["best_epoch"] >= 1
    assert result["words"]["analogy_man_king_woman"] == "queen"
    manifest = json.loads((tmp_path / "demo" / "finetune" / "full" / "run.json").read_text())
    assert manifest["status"] == "complete" and manifest["config"]["val_fraction"] == 0.2  # never the test split
