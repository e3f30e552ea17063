"""transferlab sweep / report: spec validation, the local pool and the submitit path on real data,
failure isolation, resuming after a kill, the results table and the report."""
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from conftest import real_images, run_cli
from transferlab.errors import BadInputError
from transferlab.sweep.spec import make_plan

TINY = {"data": "fashion-mnist", "per_class": 5, "image_size": 32, "workers": 0}


def broken_dataset(root: Path) -> Path:
    """Ants and bees where every bee of train/ is a damaged file (named .jpg): the listing, and so the
    sweep's checks before it starts, find nothing wrong; the run itself must fail, naming the class."""
    for split, n in (("train", 6), ("val", 3)):
        for cls in ("ants", "bees"):
            (root / split / cls).mkdir(parents=True)
            for i, photo in enumerate(real_images(split, cls, n)):
                target = root / split / cls / photo.name
                if split == "train" and cls == "bees":
                    target.write_bytes(b"\xff\xd8 not really a JPEG " * 10)
                else:
                    target.write_bytes(photo.read_bytes())
    return root


def write_spec(path: Path, spec: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# -- specs: validated before anything runs --------------------------------------------------------
def test_unknown_option_is_named_and_valid_ones_listed(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.yaml", {"command": "fne", "base": TINY, "grid": {"lyers": ["all", "last"]}})
    code, out, err = run_cli(["sweep", spec, "--out", tmp_path / "o"], capsys)
    assert code == 2 and out == ""
    assert "unknown option 'lyers'" in err and "Did you mean layers" in err
    for valid in ("layers", "post", "C", "model", "per_class", "image_size"):  # from the real fne parser
        assert valid in err.split("Valid options:")[1]
    assert "transfer" not in err.split("Valid options:")[1]  # a fine-tuning option is not an fne option
    assert not (tmp_path / "o").exists()
    with pytest.raises(BadInputError, match=r"unknown option 'layers' for `transferlab finetune`.*Valid options: .*"
                                             r"backbone_lr_mult.*freeze.*transfer"):
        make_plan({"command": "finetune", "base": TINY, "grid": {"layers": ["all"]}})


def test_empty_grids_are_errors():
    for spec in ({"command": "fne", "base": TINY},
                 {"command": "fne", "base": TINY, "grid": {}},
                 {"command": "fne", "base": TINY, "grid": {"layers": []}},
                 {"command": "fne", "base": TINY, "runs": []}):
        with pytest.raises(BadInputError, match="empty"):
            make_plan(spec)


def test_max_runs_refuses_with_the_count(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.yaml", {"command": "finetune", "base": TINY,
                                            "grid": {"transfer": [0, 1, 2, 3], "lr": [0.1, 0.01, 0.001]}})
    code, _, err = run_cli(["sweep", spec, "--out", tmp_path / "o", "--max-runs", "5"], capsys)
    assert code == 2 and "would start 12 runs" in err and "--max-runs 5" in err
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_spellings_references_values_and_stable_names():
    plan = make_plan({"command": "finetune", "base": {**TINY, "--backbone-lr-mult": 0.1, "no-cache-frozen": True},
                      "grid": {"transfer": [0, 2, "all"], "freeze": ["${transfer}", 0]}})
    # K=0 frozen and K=0 fine-tuned are the same run: planned once
    assert len(plan.runs) == 5 and plan.columns == ["transfer", "freeze"]
    run = next(r for r in plan.runs if r.options["transfer"] == 2 and r.options["freeze"] == 2)
    assert run.options["backbone_lr_mult"] == 0.1 and run.options["cache_frozen"] is False
    assert "--no-cache-frozen" in run.argv and "--backbone-lr-mult" in run.argv
    assert run.name.startswith("finetune-transfer=2_freeze=2-") and len(run.name.rsplit("-", 1)[1]) == 8
    again = make_plan({"command": "finetune", "base": {**TINY, "backbone_lr_mult": 0.1, "cache_frozen": False},
                       "grid": {"freeze": [0, "${transfer}"], "transfer": [2, 0, "all"]}})
    assert {r.name.rsplit("-", 1)[1] for r in again.runs} == {r.key for r in plan.runs}  # same runs, same hashes
    # only result-changing options name a run: workers/device do not, an explicit default does not either
    a = make_plan({"command": "fne", "base": {**TINY, "workers": 3, "post": "fne"}, "grid": {"layers": ["last"]}})
    b = make_plan({"command": "fne", "base": {**TINY, "device": "cpu"}, "grid": {"layers": ["last"]}})
    assert a.runs[0].name == b.runs[0].name
    with pytest.raises(BadInputError, match=r"grid \(post=bogus\): post \(--post\) must be one of fne, std, l2, none, "
                                             r"got bogus"):
        make_plan({"command": "fne", "base": TINY, "grid": {"post": ["fne", "bogus"]}})
    with pytest.raises(BadInputError, match="refers to transfer, which this run does not set"):
        make_plan({"command": "finetune", "base": TINY, "grid": {"freeze": ["${transfer}"]}})


def test_dry_run_json_lists_runs_and_writes_nothing(tmp_path, capsys):
    spec = write_spec(tmp_path / "s.yaml", {"command": "fne", "base": TINY,
                                            "runs": [{"layers": "last"}, {"layers": "stages", "post": "l2"}]})
    code, out, _ = run_cli(["sweep", spec, "--out", tmp_path / "o", "--dry-run", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["n_runs"] == 2 and info["to_run"] == 2
    assert [r["status"] for r in info["runs"]] == ["missing", "missing"]
    assert info["runs"][1]["command_line"].startswith("transferlab fne --data fashion-mnist")
    assert "--post l2" in info["runs"][1]["command_line"]
    assert not (tmp_path / "o").exists()


def _choices(annotation) -> list:
    """The values of the ``Literal`` in a field's type (``Literal[...]``, ``float | Literal["auto"]``)."""
    import typing

    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [c for arg in typing.get_args(annotation) for c in _choices(arg)]


def _another_value(cls, name: str, value):
    """A valid value of field ``name`` other than ``value``, found from the value and the field's type."""
    annotation = cls.model_fields[name].annotation
    if name == "device":
        return "cpu" if value != "cpu" else None
    if isinstance(value, bool):
        return not value
    if isinstance(value, str) and _choices(annotation):
        return next(c for c in _choices(annotation) if c != value)
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2
    if isinstance(value, tuple):
        return tuple(v - 0.5 for v in value)
    if isinstance(value, str):
        return value + "-other"
    if value is None:
        return 3 if "int" in str(annotation) else "other"
    raise AssertionError(f"no other value for {name}={value!r}: extend _another_value")


def test_extraction_key_changes_with_every_extraction_field_and_no_other():
    """Every option of an fne run, varied one at a time: the runs share one extraction exactly when the
    option is not one of the extraction's (``EmbedConfig``) or is ``layers`` (the group extracts the union)."""
    from transferlab.fne.config import EmbedConfig, FNEConfig
    from transferlab.sweep.spec import CONTROLLED
    from transferlab.sweep.tasks import extraction_key, make_tasks

    base = {**TINY, "train_list": "train.txt", "test_list": "test.txt", "images": "images"}
    config = FNEConfig(**base)
    fields = [n for n in FNEConfig.model_fields if n not in CONTROLLED]
    first = make_plan({"command": "fne", "base": base, "runs": [{}]}).runs[0]
    changed = {n: make_plan({"command": "fne", "base": base, "runs": [{n: _another_value(FNEConfig, n, getattr(
        config, n))}]}).runs[0] for n in fields}  # one plan each: a plan runs runtime-only variants once
    assert all(run.config[n] != first.config[n] for n, run in changed.items())
    extraction = set(EmbedConfig.model_fields) - {"layers"}
    for name, run in changed.items():
        assert (extraction_key(run) != extraction_key(first)) == (name in extraction), name
    assert {"solver", "cv_folds", "C", "post"} <= set(fields) - extraction  # the probe's own options
    shared = [r for n, r in changed.items() if n not in extraction]
    tasks = make_tasks([first, *shared], "out", cwd=".")
    assert len(tasks) == 1 and len(tasks[0].runs) == len(shared) + 1


# -- real runs ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_fne_sweep_local_pool_shares_extraction_isolates_failures_and_resumes(tmp_path, capsys):
    cache = Path(os.environ["TRANSFERLAB_CACHE"]) / "features"
    before = set(cache.glob("*.npz")) if cache.exists() else set()
    broken = broken_dataset(tmp_path / "broken")
    spec = write_spec(tmp_path / "fne.yaml", {
        "name": "layers", "command": "fne", "base": TINY,
        "grid": {"data": ["fashion-mnist", str(broken)], "layers": ["all", "stages", "last"]}})
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(["sweep", spec, "--out", out, "--workers", "2", "--json"], capsys)
    assert code == 2  # runs failed on bad input: a user error, and the sweep says so
    assert "3 of 6 run(s) failed" in err
    info = json.loads(stdout)  # stdout is exactly one JSON object; progress went to stderr
    assert info["done"] == 3 and info["failed"] == 3 and info["missing"] == 0
    # each dataset's three runs shared ONE extraction (train + test = 2 cache entries), of the union of their taps
    new = set(cache.glob("*.npz")) - before
    assert len(new) == 4
    df = pd.read_parquet(out / "results.parquet")
    assert list(df.columns[:3]) == ["run", "data", "layers"]
    for col in ("accuracy", "mean_class_accuracy", "seconds", "status", "error"):
        assert col in df.columns
    assert pd.read_csv(out / "results.csv")["status"].tolist() == df["status"].tolist()
    good, bad = df[df.data == "fashion-mnist"], df[df.data != "fashion-mnist"]
    assert set(good.status) == {"done"} and set(bad.status) == {"failed"}
    assert all("class 'bees' has no readable training image" in e for e in bad.error)
    assert (good.accuracy > 0.3).all()  # 10 classes, 50 test images: well above chance (0.1)
    dims = dict(zip(good.layers, good.dim))
    assert dims["all"] == 21008 and dims["last"] == 1280 and dims["stages"] < dims["all"]
    failed_folder = Path(bad.folder.iloc[0])
    assert "Traceback" in (failed_folder / "traceback.txt").read_text()
    error = json.loads((failed_folder / "error.json").read_text())
    assert "bees" in error["error"] and error["kind"] == "user error"
    assert json.loads((failed_folder / "run.json").read_text())["status"] == "failed"

    # the sweep's slice equals a standalone `fne` run of that layer setting (same features, same SVM)
    code, single, _ = run_cli(["fne", "--data", "fashion-mnist", "--per-class", "5", "--image-size", "32",
                               "--workers", "0", "--layers", "last", "--quiet", "--out", tmp_path / "single",
                               "--json"], capsys)
    cached = set(cache.glob("*.npz"))
    last = good[good.layers == "last"].iloc[0]
    assert json.loads(single)["accuracy"] == pytest.approx(last.accuracy, abs=1e-12)
    assert (tmp_path / "single" / "predictions.csv").read_text() == (Path(last.folder) / "predictions.csv").read_text()

    # a kill: one run's manifest still says running (partial folder left behind); a rerun completes only the
    # missing and failed runs
    stages = Path(good[good.layers == "stages"].folder.iloc[0])
    manifest = json.loads((stages / "run.json").read_text())
    (stages / "run.json").write_text(json.dumps({**manifest, "status": "running"}))
    (stages / "half-written.tmp").write_text("junk")
    untouched = Path(good[good.layers == "all"].folder.iloc[0]) / "metrics.json"
    stamp = untouched.stat().st_mtime_ns
    code, stdout, _ = run_cli(["sweep", spec, "--out", out, "--json"], capsys)
    info = json.loads(stdout)
    assert code == 2 and info["complete_before"] == 2 and info["to_run"] == 4  # 1 lost + 3 failed retried
    assert info["done"] == 3 and info["failed"] == 3
    assert untouched.stat().st_mtime_ns == stamp  # complete runs are not redone
    assert (stages / "metrics.json").is_file() and not (stages / "half-written.tmp").exists()
    assert set(cache.glob("*.npz")) == cached  # the redo read the shared features from the cache

    code, stdout, _ = run_cli(["report", out, "--json"], capsys)
    rep = json.loads(stdout)
    assert code == 0 and rep["done"] == 3 and rep["failed"] == 3
    md = (out / "report.md").read_text()
    assert "vs full embedding" in md and "| all | 21008 |" in md and "no readable training image" in md
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "<table>" in html
    assert (out / "fne_layers.png").stat().st_size > 5000


@pytest.mark.slow
@pytest.mark.slurm
def test_finetune_sweep_through_submitit_records_a_crash_and_draws_the_yosinski_curve(tmp_path, capsys):
    broken = broken_dataset(tmp_path / "broken")
    spec = write_spec(tmp_path / "ft.yaml", {
        "name": "yosinski", "command": "finetune",
        "base": {**TINY, "epochs": 1, "augment": "none", "batch_size": 25},
        "grid": {"transfer": ["all"], "freeze": ["${transfer}", 0]},
        "runs": [{"data": str(broken), "transfer": "all", "freeze": 0}]})
    out = tmp_path / "sweep"
    code, stdout, _ = run_cli(["sweep", spec, "--out", out, "--executor", "submitit-debug", "--time", "10",
                               "--json"], capsys)
    info = json.loads(stdout)
    assert code == 2 and info["done"] == 2 and info["failed"] == 1 and len(info["job_ids"]) == 3
    jobs = json.loads((out / "slurm" / "jobs.json").read_text())
    assert jobs["cluster"] == "debug" and jobs["parameters"]["timeout_min"] == 10
    df = pd.read_parquet(out / "results.parquet")
    crash = df[df.status == "failed"].iloc[0]
    assert "class 'bees' has no readable training image" in crash.error and "not an image" in crash.error
    ok = df[df.status == "done"]
    assert sorted(ok.freeze_blocks.tolist()) == [0, 8] and (ok.blocks == 8).all()
    for folder in ok.folder:
        assert (Path(folder) / "config.yaml").is_file() and (Path(folder) / "best.pt").is_file()

    code, stdout, _ = run_cli(["report", out, "--json"], capsys)
    rep = json.loads(stdout)
    assert code == 0 and str(out / "yosinski.png") in rep["plots"]
    md = (out / "report.md").read_text()
    assert "transferred + frozen (freeze = K)" in md and "transferred + fine-tuned (freeze 0)" in md
    assert "no readable training image" in md  # the failed run and its error are in the summary
