"""Shared fixtures: real images from ../shared/data, a private feature cache, small datasets."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HYMENOPTERA = SHARED / "hymenoptera"
SCENE15 = SHARED / "scene15"


def _missing(name: str) -> str:
    """Why ``../shared/data/<name>`` cannot be read, naming it; empty when it is there."""
    path = SHARED / name
    return "" if path.is_dir() else f"shared data set missing: {path}"


def shared_data(name: str) -> Path:
    """``../shared/data/<name>``; where it is missing, the calling test or fixture is skipped, saying which."""
    if _missing(name):
        pytest.skip(_missing(name))
    return SHARED / name


def needs_shared_data(name: str) -> pytest.MarkDecorator:
    """The same rule as a mark, for a module (``pytestmark``) or a test that reads the folder directly."""
    return pytest.mark.skipif(bool(_missing(name)), reason=_missing(name) or f"{name} is there")

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Every test session gets its own feature cache, so results never leak between runs."""
    old = os.environ.get("TRANSFERLAB_CACHE")
    os.environ["TRANSFERLAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("TRANSFERLAB_CACHE", None)
    else:
        os.environ["TRANSFERLAB_CACHE"] = old


def pytest_runtest_setup(item):
    """A test marked ``gpu`` is skipped where there is no CUDA device."""
    if item.get_closest_marker("gpu") is not None:
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA device")


def real_images(split: str, cls: str, n: int) -> list[Path]:
    """The first ``n`` photos of one class of hymenoptera (skips the test where the data set is missing)."""
    files = sorted(p for p in (shared_data("hymenoptera") / split / cls).iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    return files[:n]


@pytest.fixture(scope="session")
def small_folder(tmp_path_factory) -> Path:
    """A small train/val dataset of real photos (ants vs bees, 12 + 6 per class)."""
    root = tmp_path_factory.mktemp("small") / "antsbees"
    for split, n in (("train", 12), ("val", 6)):
        for cls in ("ants", "bees"):
            (root / split / cls).mkdir(parents=True)
            for p in real_images(split, cls, n):
                shutil.copy(p, root / split / cls / p.name)
    return root


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    from transferlab.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="session")
def fne_run(small_folder, tmp_path_factory):
    """A finished FNE run (stages of efficientnet_lite0, 64 px, with --compare) on ``small_folder``."""
    import transferlab as tl

    out = tmp_path_factory.mktemp("fne-run") / "fne"
    return tl.fne(small_folder, layers="stages", image_size=64, workers=0, quiet=True, compare=True, out=out)


# -- real faults: a small filesystem that fills up or turns read-only, damaged files ----------------
class Tmpfs:
    """A tmpfs mounted at ``path`` (needs root, as in CI); the ``tmpfs`` fixture unmounts it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False

    def mount(self, size: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip() or done.returncode}")
        self.mounted = True
        return self.path

    def remount(self, options: str) -> None:
        """``ro`` (read-only) or ``size=...`` (room freed)."""
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True)

    def unmount(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)
            self.mounted = False


@pytest.fixture
def tmpfs(tmp_path):
    fs = Tmpfs(tmp_path / "mnt")
    try:
        yield fs
    finally:
        fs.unmount()


DAMAGE = ("truncate", "zero-fill", "delete")


def damage(path: Path, how: str) -> None:
    """Damage a file as a lost write or a failing disk does: cut it short, zero it, or delete it."""
    if how == "truncate":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
    elif how == "zero-fill":
        path.write_bytes(b"\0" * path.stat().st_size)
    elif how == "delete":
        path.unlink()
    else:
        raise ValueError(how)
