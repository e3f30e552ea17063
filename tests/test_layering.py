"""The layering of src/transferlab holds: no library module imports upward, no package has an import cycle.

The floors are declared once, in ``tools/imports.py`` (``LAYERS``); ``python -m tools.imports`` prints
the whole graph.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tools.imports import LAYERS, check


@pytest.fixture(scope="module")
def report():
    return check()


def test_every_module_has_a_floor_and_every_floor_a_module(report):
    assert not report.no_floor, "\n".join(report.problems)
    groups = {report.group(m) for m in report.modules}
    stale = [name for floor in LAYERS for name in floor if name not in groups]
    assert not stale, f"LAYERS names what src/transferlab no longer has: {stale}"


def test_no_library_module_imports_upward(report):
    found = [f"{e.where()}: {report.describe(e)}: {why}" for e, why in report.up_edges]
    assert not found, "imports against the layering (floors in tools/imports.py):\n" + "\n".join(found)


def test_no_import_cycle_inside_a_package(report):
    found = [p for p in report.problems if p.startswith("import cycle")]
    assert not found, "\n".join(found)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


FAKE_LAYERS = [("_package",), ("low",), ("high",), ("cli", "__init__")]
FAKE = {
    "fake/__init__.py": '__version__ = "1.0"\n',
    "fake/low/__init__.py": "",
    "fake/low/a.py": """\
        from fake import __version__


        def f():
            return __version__
        """,
    "fake/low/cli.py": """\
        def main():
            from fake.high.b import g
        """,
    "fake/high/__init__.py": """\
        from fake._package import lazy_package

        lazy_package(__name__, {"g": ".b", "h": ".d"})
        """,
    "fake/high/b.py": """\
        from fake.low import a


        def g():
            return a.f()
        """,
    "fake/high/c.py": "from fake.high.b import g\n",
    "fake/high/d.py": "def h():\n    pass\n",
    "fake/_package.py": "def lazy_package(name, exports):\n    pass\n",
}


def test_checker_passes_a_clean_package(tmp_path):
    report = check(_write(tmp_path, FAKE), "fake", FAKE_LAYERS)
    assert report.problems == []
    # a door's up-edge is shown, not flagged; the top face's own constant is no edge
    assert [report.describe(e) for e in report.excepted] == ["low.cli -> high.b (lazy)"]
    assert all(e.target != "fake" for e in report.edges)


def test_checker_flags_an_up_edge_with_its_file_and_line(tmp_path):
    files = dict(FAKE, **{"fake/low/a.py": FAKE["fake/low/a.py"] + """\


        def h():
            from fake.high import h
            return h()
        """})
    report = check(_write(tmp_path, files), "fake", FAKE_LAYERS)
    assert len(report.problems) == 1
    assert report.problems[0] == (f"{Path('fake/low/a.py')}:9: low.a -> high.d (lazy, via high): "
                                  "low (floor 1) imports high (floor 2)")


def test_checker_flags_a_cycle_of_type_only_imports(tmp_path):
    files = dict(FAKE, **{"fake/high/b.py": """\
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from fake.high.c import C
        """, "fake/high/c.py": "from fake.high.b import g\n"})
    report = check(_write(tmp_path, files), "fake", FAKE_LAYERS)
    assert [p.splitlines()[0] for p in report.problems] == ["import cycle: high.b -> high.c -> high.b"]
    assert {report.describe(e) for e in report.cycles[0][1]} == {"high.b -> high.c (type)", "high.c -> high.b (import)"}
    assert f"{Path('fake/high/b.py')}:4: high.b -> high.c (type)" in report.problems[0]


def test_checker_flags_a_module_without_a_floor(tmp_path):
    report = check(_write(tmp_path, dict(FAKE, **{"fake/extra.py": ""})), "fake", FAKE_LAYERS)
    assert report.no_floor == ["fake.extra"]


def test_checker_flags_a_library_module_importing_a_door(tmp_path):
    files = dict(FAKE, **{"fake/low/b.py": "from fake.low.cli import main\n"})
    report = check(_write(tmp_path, files), "fake", FAKE_LAYERS)
    assert report.problems == [f"{Path('fake/low/b.py')}:1: low.b -> low.cli (import): "
                               "low.cli is a door (cli / __main__): only doors import it"]
