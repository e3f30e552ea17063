"""The typed configs are the single source of every option: the parsers are built from them, and a bad
value gets the same one-line message through every door (command line, sweep spec, YAML, Python)."""
from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, run_cli
from transferlab.errors import BadInputError

# command-line options that are doors, not settings: they live in no config
CLI_ONLY = {"--help", "-h", "--version", "--json", "--config", "--resume"}
FAST = ["--image-size", "32", "--workers", "0", "--quiet"]


def walk_parsers(parser: argparse.ArgumentParser, prefix: str = ""):
    """(command path, parser) for every sub-command, nested ones (``words similar``) included."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                yield path, sub
                yield from walk_parsers(sub, path)


def test_every_option_of_every_parser_is_its_schema_field():
    from transferlab.cli import build_parser
    from transferlab.cli_args import choices_of, default_text

    checked = 0
    for path, parser in walk_parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            flags = set(action.option_strings)
            field = getattr(action, "schema_field", None)
            if field is None:
                assert flags and flags <= CLI_ONLY, f"`transferlab {path}` {action.option_strings or action.dest} " \
                                                    "is not built from a config field"
                continue
            cls, name = field
            assert name in cls.model_fields, (path, name)
            f = cls.model_fields[name]
            if action.help == argparse.SUPPRESS:  # an old spelling kept as a hidden alias
                continue
            checked += 1
            if action.option_strings:
                assert cls.flag(name) in action.option_strings, (path, name, action.option_strings)
            assert action.default is argparse.SUPPRESS or not action.option_strings  # the config fills defaults
            if isinstance(f.default, bool):  # a flag: it says what is done without it
                assert "(default: " in (action.help or ""), (path, name, action.help)
                continue
            if not f.is_required():
                assert f"(default: {default_text(cls, name)})" in (action.help or ""), (path, name, action.help)
            choices = choices_of(cls, name)
            if choices:
                assert action.metavar == "{" + ",".join(map(str, choices)) + "}", (path, name, action.metavar)
    assert checked > 100


def test_every_option_states_its_default():
    from transferlab.cli import build_parser

    for path, parser in walk_parsers(build_parser()):
        for action in parser._actions:
            if action.option_strings and action.help != argparse.SUPPRESS and \
                    not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                assert action.help and "Undefined" not in action.help, (path, action.option_strings, action.help)
                stated = action.help.count("(default") + action.help.count("(required)")
                assert stated == 1, (path, action.option_strings, action.help)


def test_one_vocabulary_across_every_command():
    """--top-k (old spellings hidden), --json and --quiet everywhere, --out always a folder with --overwrite."""
    from transferlab.cli import build_parser

    seen = 0
    for path, parser in walk_parsers(build_parser()):
        if any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue  # `words` itself: its sub-commands are checked
        seen += 1
        visible = {f for a in parser._actions if a.help != argparse.SUPPRESS for f in a.option_strings}
        assert {"--json", "--quiet"} <= visible, path
        assert not visible & {"--top", "--topn", "-n"}, path
        if any(a.dest == "top_k" for a in parser._actions):
            assert "--top-k" in visible, path
        out = [a for a in parser._actions if "--out" in a.option_strings]
        if out:
            assert out[0].metavar == "DIR", (path, out[0].metavar)
            assert path == "demo" or "--overwrite" in visible, path
        assert parser.epilog and "examples:" in parser.epilog, path
        assert parser.description, path
    assert seen >= 20


def test_library_modules_never_import_the_cli():
    src = ROOT / "src" / "transferlab"
    offenders = []
    for path in src.rglob("*.py"):
        if path.name in ("cli.py", "cli_args.py", "__main__.py"):  # the doors themselves
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for n in names:
                if n.endswith(".cli") or n == "transferlab.cli" or n.startswith("transferlab.cli_args") \
                        or n == "transferlab.options" or ".cli." in n:
                    offenders.append(f"{path.relative_to(src)} imports {n}")
    assert not offenders, offenders


def test_help_pages_do_not_import_torch():
    probe = ("import sys, runpy\nfor argv in (['transferlab', '--help'], ['transferlab', 'fne', '--help']):\n"
             "    sys.argv = argv\n    try:\n        runpy.run_module('transferlab', run_name='__main__')\n"
             "    except SystemExit:\n        pass\nprint('torch' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stderr.strip().splitlines()[-1] == "False False"
    assert "--batch-size" in proc.stdout and "(default: 32)" in proc.stdout


# -- one message through every door --------------------------------------------------------------------
BATCH = "batch_size (--batch-size) must be an integer >= 1, got 0"


def sweep_error(tmp_path, capsys, spec: dict) -> tuple[int, str]:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out, err = run_cli(["sweep", path, "--out", tmp_path / "sweep"], capsys)
    assert not (tmp_path / "sweep").exists()  # refused before anything was written
    return code, err


def test_a_bad_value_is_the_same_one_line_error_from_the_cli_a_sweep_and_python(small_folder, tmp_path, capsys):
    import transferlab as tl

    for argv in (["fne", "--data", small_folder, "--batch-size", "0", "--no-cache"],
                 ["fne", "--data", small_folder, "--batch-size", "0"],
                 ["embed", "--data", small_folder, "--batch-size", "0", "--out", tmp_path / "e"]):
        code, out, err = run_cli(argv, capsys)
        assert code == 2 and out == "" and err.strip().endswith(BATCH) and len(err.strip().splitlines()) == 1
    code, err = sweep_error(tmp_path, capsys, {"command": "fne", "base": {"data": str(small_folder)},
                                               "grid": {"batch_size": [4, 0]}})
    assert code == 2 and BATCH in err and "grid (batch_size=0)" in err
    with pytest.raises(BadInputError, match=rf"^{BATCH.replace('(', '[(]').replace(')', '[)]')}$"):
        tl.fne(small_folder, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):  # a BadInputError is a ValueError for Python users
        tl.FNEConfig(batch_size=-2)
    code, _, err = run_cli(["embed", "--data", small_folder, "--batch-size", "-2"], capsys)
    assert code == 2 and "batch_size (--batch-size) must be an integer >= 1, got -2" in err


def test_a_bad_value_stops_the_run_before_any_work_even_with_cached_features(small_folder, tmp_path, capsys):
    code, _, _ = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--out", tmp_path / "a"], capsys)
    assert code == 0
    code, _, err = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--batch-size", "0",
                            "--out", tmp_path / "b"], capsys)
    assert code == 2 and BATCH in err and not (tmp_path / "b").exists()


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_is_a_clear_error_everywhere(small_folder, tmp_path, capsys):
    import transferlab as tl
    from conftest import real_images

    photo = real_images("val", "ants", 1)[0]
    for argv in (["fne", "--data", small_folder, *FAST, "--device", "cuda", "--out", tmp_path / "f"],
                 ["classify", photo, "--device", "cuda"],
                 ["embed", "--data", small_folder, *FAST, "--device", "cuda:0", "--out", tmp_path / "e"]):
        code, out, err = run_cli(argv, capsys)
        assert code == 2 and "CUDA is not available on this machine" in err and "Traceback" not in err, argv
    with pytest.raises(BadInputError, match="CUDA is not available"):
        tl.classify([photo], device="cuda")
    code, err = sweep_error(tmp_path, capsys, {"command": "fne", "base": {"data": str(small_folder), "device": "cuda"},
                                               "grid": {"layers": ["last"]}})
    assert code == 2 and "the sweep was not started" in err and "CUDA is not available" in err
    code, _, err = run_cli(["fne", "--data", small_folder, "--device", "gpu"], capsys)
    assert code == 2 and "device (--device) must be cpu, cuda, cuda:N or mps, got gpu" in err


def test_per_class_on_a_folder_dataset_names_its_own_classes(small_folder, tmp_path, capsys):
    import transferlab as tl

    code, _, err = run_cli(["fne", "--data", small_folder, *FAST, "--per-class", "13", "--out", tmp_path / "a"],
                           capsys)
    assert code == 2 and "13 is more than the 12 training images of class 'ants'" in err
    assert "T-shirt" not in err
    for bad in ("0", "-3"):
        expected = f"per_class (--per-class) must be an integer >= 1, got {bad}"
        code, _, err = run_cli(["fne", "--data", small_folder, "--per-class", bad], capsys)
        assert code == 2 and err.strip().endswith(expected), err
        with pytest.raises(BadInputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            tl.load_dataset(small_folder, per_class=int(bad))
        code, err = sweep_error(tmp_path, capsys, {"command": "fne", "base": {"data": str(small_folder)},
                                                   "runs": [{"per_class": int(bad)}]})
        assert code == 2 and expected in err


def test_a_sweep_checks_layer_names_data_and_models_before_starting(small_folder, tmp_path, capsys):
    code, err = sweep_error(tmp_path, capsys, {"command": "fne", "base": {"data": str(small_folder), "image_size": 32},
                                               "grid": {"layers": ["last", "bn99"]}})
    assert code == 2 and "the sweep was not started" in err and "unknown layer 'bn99'" in err
    code, err = sweep_error(tmp_path, capsys, {"command": "fne", "grid": {"data": [str(small_folder),
                                                                                    str(tmp_path / "nowhere")]}})
    assert code == 2 and "dataset folder not found" in err and "nowhere" in err
    code, err = sweep_error(tmp_path, capsys, {"command": "fne", "base": {"data": str(small_folder)},
                                               "grid": {"model": ["efficientnet_lite0", "no_such_model"]}})
    assert code == 2 and "unknown model 'no_such_model'" in err


def test_config_files_and_spellings_map_onto_the_same_fields(tmp_path):
    from transferlab.fne.config import FNEConfig

    path = tmp_path / "c.yaml"
    path.write_text("batch-size: 8\n--no-cache: true\nC: '0.5'\nthresholds: [-0.2, 0.1]\n")
    cfg = FNEConfig.load(path)
    assert (cfg.batch_size, cfg.use_cache, cfg.C, cfg.thresholds) == (8, False, 0.5, (-0.2, 0.1))
    path.write_text("batch_size: 0\n")
    with pytest.raises(BadInputError, match=rf"{path}: {BATCH.replace('(', '[(]').replace(')', '[)]')}"):
        FNEConfig.load(path)
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(BadInputError, match="not a text"):
        FNEConfig.load(path)
    with pytest.raises(BadInputError, match="unknown option 'lyers'.*Did you mean layers"):
        FNEConfig(lyers="all")
    with pytest.raises(BadInputError, match=r"thresholds \(--thresholds\) must be LOW <= HIGH"):
        FNEConfig(thresholds=(0.2, -0.1))
    assert FNEConfig.runtime_fields() >= {"out", "workers", "device", "use_cache", "quiet", "overwrite"}
    assert FNEConfig(layers="last", workers=3, device="cpu").identity() == {"layers": "last"}
    assert FNEConfig(batch_size=8, layers="stages").to_argv() == ["--layers", "stages", "--batch-size", "8"]
    cfg = FNEConfig()
    with pytest.raises(BadInputError, match="C \\(--C\\) must be a number > 0 or auto, got -1"):
        cfg.C = -1  # assignments are validated too
    json.dumps(cfg.to_dict())


def test_a_reader_that_goes_away_stops_the_command_quietly(monkeypatch, capsys):
    """`transferlab models | head`: a closed pipe is not reported as an internal error."""
    from transferlab.cli import main

    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

        def fileno(self):
            raise ValueError("no file")  # a pseudo-stream: nothing to point at /dev/null

    monkeypatch.setattr("sys.stdout", ClosedPipe())
    assert main(["models"]) == 141
    assert "internal error" not in capsys.readouterr().err
