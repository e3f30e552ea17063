"""The import graph of src/transferlab by package, checked against the declared layering.

    python -m tools.imports             # package graph, then every edge that breaks a rule
    python -m tools.imports --modules   # and each module's own imports

Every import counts: top-level ones, ones inside functions (lazy), ``if TYPE_CHECKING:`` ones, and
the module names that a lazy package face (``_package.lazy_package``) or a command table hands on as
strings.  A name imported from a package face counts as an import of the module that defines it.
The rules, one exit status (1 if any is broken):

- floors (``LAYERS``, lowest first): a library module imports only its own package and packages on
  lower floors.  Doors are excepted but shown: ``cli.py`` and ``__main__.py`` modules and the top
  face's lazy map; no library module imports a door.
- inside a package the modules form a DAG: no import cycle, type-only imports included.

A constant that a package's ``__init__`` assigns itself (``__version__``) is no edge for the
modules under it: the package's ``__init__`` has run before any of them.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "transferlab"

# The floors of src/transferlab, lowest first: a top-level module or package of transferlab may import
# only those on lower floors (and itself).  "__init__" is the package's own face (its lazy name map).
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_package", "results", "page"),  # plain data: errors, the lazy-package helper, result base
                                        # classes; the HTML pieces every page is built from
    ("io",),                            # atomic files, JSON / YAML
    ("runtime",),                       # device, workers, cache root
    ("schema",),                        # typed configs
    ("cache",),                         # every file under the cache root: validated, atomic, with manifests
    ("runs", "cli_args"),               # run folders; argparse from the configs
    ("evaluation", "data"),             # predictions.csv, confusion.png and the metrics; datasets, images, splits
    ("models",),                        # backbones, taps, blocks, the extraction engines, classify
    ("fne", "words"),                   # full-network embeddings; word-embedding spaces
    ("finetune",),
    ("sweep",),
    ("report",),                        # report.html of any run folder, sweeps included
    ("demo", "cli", "__init__", "__main__"),  # doors
]

DOORS = ("cli", "__main__")  # modules named so may import upward; only doors import them
KINDS = ("import", "lazy", "type", "face", "string")  # how an edge is written (see Edge.kind)
_MODULE_STRING = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?$")


@dataclass(frozen=True)
class Edge:
    """One import: ``source`` imports ``target`` (dotted module names) at ``file:line``.

    ``kind``: ``import`` (module level), ``lazy`` (inside a function), ``type`` (``if TYPE_CHECKING:``),
    ``face`` (a lazy package face's name map), ``string`` (a module named in a string, e.g. a command
    table); ``via``: the package face the name was imported from, if any.
    """

    source: str
    target: str
    file: str
    line: int
    kind: str
    via: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    tree: ast.Module
    file: str                                                  # path shown in messages
    exports: dict[str, str] = field(default_factory=dict)      # lazy face: public name -> module
    reexports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, its name there)
    constants: set[str] = field(default_factory=set)           # names bound to a literal at top level


@dataclass
class Report:
    """The graph and what breaks the rules; ``problems`` is empty when the layering holds."""

    package: str
    layers: list[tuple[str, ...]]
    modules: dict[str, Module]
    edges: list[Edge]
    up_edges: list[tuple[Edge, str]]   # (edge, why)
    excepted: list[Edge]               # doors' up-edges, shown but allowed
    cycles: list[tuple[list[str], list[Edge]]]  # (one shortest cycle, every edge inside its component)
    no_floor: list[str]

    @property
    def problems(self) -> list[str]:
        out = [f"{self.modules[m].file}:1: {self.short(m)} has no floor: add "
               f"{self.group(m)!r} to LAYERS in tools/imports.py" for m in self.no_floor]
        out += [f"{e.where()}: {self.describe(e)}: {why}" for e, why in self.up_edges]
        for path, inside in self.cycles:
            members = sorted({e.source for e in inside})
            lines = [f"import cycle: {' -> '.join(self.short(m) for m in path)}"
                     + (f" (one of the loops among {', '.join(self.short(m) for m in members)})"
                        if len(members) > len(path) - 1 else "")]
            lines += [f"    {e.where()}: {self.describe(e)}" for e in inside]
            out.append("\n".join(lines))
        return out

    def short(self, module: str) -> str:
        return "__init__" if module == self.package else module.removeprefix(self.package + ".")

    def group(self, module: str) -> str:
        """The top-level module or package that ``module`` belongs to (the unit of a floor)."""
        parts = self.short(module).split(".")
        return parts[0]

    def floor(self, module: str) -> int | None:
        return self.group_floor(self.group(module))

    def group_floor(self, group: str) -> int | None:
        return next((i for i, floor in enumerate(self.layers) if group in floor), None)

    def describe(self, e: Edge) -> str:
        via = f", via {self.short(e.via)}" if e.via else ""
        return f"{self.short(e.source)} -> {self.short(e.target)} ({e.kind}{via})"

    def render(self, modules: bool = False) -> str:
        lines = [f"Import graph of {self.package} by package (floors lowest first; "
                 f"! = against the layering, * = upward from a door only)", ""]
        by_group: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        bad = {(e.source, e.target) for e, _ in self.up_edges}
        door = {(e.source, e.target) for e in self.excepted}
        groups = {self.group(m) for m in self.modules}
        for e in self.edges:
            sg, tg = self.group(e.source), self.group(e.target)
            if sg != tg:
                mark = "!" if (e.source, e.target) in bad else "*" if (e.source, e.target) in door else ""
                by_group[sg][tg].add(mark)
        def rank(g: str) -> tuple[int, str]:
            f = self.group_floor(g)
            return (len(self.layers) if f is None else f), g

        order = sorted(groups, key=rank)
        width = max(len(g) for g in groups)
        for g in order:
            targets = sorted(by_group[g], key=rank)
            shown = []
            for t in targets:
                marks = by_group[g][t]
                shown.append(t + ("!" if "!" in marks else "*" if "" not in marks else ""))
            floor = str(rank(g)[0]) if self.group_floor(g) is not None else "?"
            lines.append(f"  {floor:>2}  {g:<{width}}  -> {', '.join(shown) or '(nothing)'}")
        if modules:
            lines += ["", "Modules (kind of import in brackets when not a module-level import):"]
            out: dict[str, list[str]] = defaultdict(list)
            for e in self.edges:
                tag = "" if e.kind == "import" else f" [{e.kind}]"
                out[e.source].append(self.short(e.target) + tag)
            for m in sorted(self.modules, key=lambda m: (self.floor(m) or 0, self.short(m))):
                lines.append(f"  {self.short(m)} -> {', '.join(sorted(set(out[m]))) or '(nothing)'}")
        if self.excepted:
            lines += ["", "Excepted up-edges (doors: cli.py, __main__.py, the top face's lazy map):"]
            lines += [f"  {e.where()}: {self.describe(e)}" for e in self.excepted]
        problems = self.problems
        if problems:
            lines += ["", "Against the layering:"] + [f"  {p}" for p in problems]
        counts = [(len(self.no_floor), "module without a floor", "modules without a floor"),
                  (len(self.up_edges), "up-edge", "up-edges"), (len(self.cycles), "import cycle", "import cycles")]
        lines += ["", "FAIL: " + ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)
                  if problems else f"OK: {len(self.modules)} modules, {len(self.edges)} imports, no up-edge, no cycle"]
        return "\n".join(lines)


def _module_name(path: Path, src: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module):
    """Yield (import node, kind) for every import statement, with the kind of the place it sits in."""
    def walk(node: ast.AST, kind: str):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, kind
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk_stmt(stmt, "type")
                for stmt in child.orelse:
                    yield from walk_stmt(stmt, kind)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from walk(child, "type" if kind == "type" else "lazy")
            else:
                yield from walk(child, kind)

    def walk_stmt(stmt: ast.stmt, kind: str):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            yield stmt, kind
        else:
            yield from walk(stmt, kind)

    yield from walk(tree, "import")


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _lazy_package_call(module: Module) -> tuple[ast.Dict | None, ast.Constant | None]:
    """The name map and ``call=`` of a ``lazy_package(__name__, {...}, call=...)`` face, if any."""
    assigned = {}
    for stmt in module.tree.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict):
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    assigned[t.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(stmt.value, ast.Dict):
            assigned[stmt.target.id] = stmt.value
    for stmt in module.tree.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "lazy_package"):
            continue
        mapping = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "exports"), None)
        if isinstance(mapping, ast.Name):
            mapping = assigned.get(mapping.id)
        target = call.args[2] if len(call.args) > 2 else next((k.value for k in call.keywords if k.arg == "call"), None)
        return (mapping if isinstance(mapping, ast.Dict) else None,
                target if isinstance(target, ast.Constant) and isinstance(target.value, str) else None)
    return None, None


class Graph:
    def __init__(self, src: Path, package: str):
        self.src, self.package = src, package
        self.modules: dict[str, Module] = {}
        for path in sorted((src / package).rglob("*.py")):
            name, is_package = _module_name(path, src)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            self.modules[name] = Module(name, path, is_package, tree, self.rel(path))
        for m in self.modules.values():
            self._read_face(m)

    def rel(self, path: Path) -> str:
        """``path`` from the repository's root (src/transferlab/...), or from ``src`` outside it."""
        path = path.resolve()
        return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.relative_to(self.src.resolve()))

    def existing(self, dotted: str) -> str | None:
        """``dotted`` or its nearest enclosing module that is part of the package."""
        parts = dotted.split(".")
        while parts:
            name = ".".join(parts)
            if name in self.modules:
                return name
            parts.pop()
        return None

    def _read_face(self, m: Module) -> None:
        for stmt in m.tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant):
                m.constants.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            elif isinstance(stmt, ast.ImportFrom) and m.is_package:
                source = _absolute(m, stmt)
                for alias in stmt.names:
                    m.reexports[alias.asname or alias.name] = (source, alias.name)
        mapping, _ = _lazy_package_call(m)
        if mapping is not None:
            for key, value in zip(mapping.keys, mapping.values):
                if isinstance(key, ast.Constant) and isinstance(value, ast.Constant):
                    m.exports[key.value] = self._target(m, value.value)

    def _target(self, face: Module, value: str) -> str:
        value = value.split(":")[0]
        return face.name + value if value.startswith(".") else value

    def resolve(self, module: str, name: str, depth: int = 0) -> tuple[str, str, bool]:
        """What ``from module import name`` loads: (module, face it came through, is a face constant)."""
        sub = f"{module}.{name}"
        if sub in self.modules:
            return sub, "", False
        m = self.modules.get(module)
        if m is not None and m.is_package and depth < 10:
            if name in m.exports:
                target = m.exports[name]
                return self.existing(target) or target, module, False
            if name in m.reexports:
                source, original = m.reexports[name]
                if source.startswith(self.package) and source != module:
                    target, _, const = self.resolve(source, original, depth + 1) \
                        if source in self.modules and self.modules[source].is_package else (source, "", False)
                    return target, module, const
            return module, "", name in m.constants
        return self.existing(module) or module, "", m is not None and name in m.constants

    def edges(self) -> tuple[list[Edge], list[Edge]]:
        """(edges, constants read from an enclosing package's face, which are no edge)."""
        edges: list[Edge] = []
        constants: list[Edge] = []
        ours = self.package + "."

        def add(e: Edge, is_constant: bool = False):
            if e.target == e.source:
                return
            if is_constant and e.source.startswith(e.target + "."):
                constants.append(e)
            else:
                edges.append(e)

        for m in self.modules.values():
            file = m.file
            handled: set[int] = set()
            aliases: dict[str, tuple[str, int, str]] = {}  # local name -> (package face, line, kind)
            for node, kind in _imports(m.tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name == self.package or alias.name.startswith(ours):
                            target = self.existing(alias.name) or alias.name
                            if alias.asname and self.modules.get(target, None) and self.modules[target].is_package:
                                aliases[alias.asname] = (target, node.lineno, kind)
                            else:
                                add(Edge(m.name, target, file, node.lineno, kind))
                    continue
                source = _absolute(m, node)
                if not (source == self.package or source.startswith(ours)):
                    continue
                for alias in node.names:
                    target, via, const = self.resolve(source, alias.name)
                    if target in self.modules and self.modules[target].is_package and not via \
                            and target == f"{source}.{alias.name}":
                        aliases[alias.asname or alias.name] = (target, node.lineno, kind)
                        continue
                    add(Edge(m.name, target, file, node.lineno, kind, via), const)
            # a package bound to a name (import transferlab as tl): what its attributes load
            used: dict[str, set[str]] = defaultdict(set)
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                    used[node.value.id].add(node.attr)
            for local, (face, line, kind) in aliases.items():
                if not used[local]:
                    add(Edge(m.name, face, file, line, kind))
                for attr in sorted(used[local]):
                    target, via, const = self.resolve(face, attr)
                    add(Edge(m.name, target, file, line, kind, via or face), const)
            # a lazy face's name map and call=, then any other string naming one of our modules
            mapping, call = _lazy_package_call(m)
            face_values = ([v for v in mapping.values if isinstance(v, ast.Constant)] if mapping else []) + \
                ([call] if call is not None else [])
            for v in face_values:
                handled.add(id(v))
                target = self._target(m, v.value)
                add(Edge(m.name, self.existing(target) or target, file, v.lineno, "face"))
            for node in ast.walk(m.tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in handled
                        and node.value.startswith(ours) and _MODULE_STRING.match(node.value)):
                    name = node.value.split(":")[0]
                    if name in self.modules:
                        add(Edge(m.name, name, file, node.lineno, "string"))
        unique = sorted(set(edges), key=lambda e: (e.source, e.line, e.target, e.kind))
        return unique, constants


def _is_door(module: str) -> bool:
    return module.rsplit(".", 1)[-1] in DOORS


def _cycles(nodes: list[str], edges: list[Edge]) -> list[tuple[list[str], list[Edge]]]:
    """Every strongly connected component of more than one module: one shortest cycle, its edges."""
    succ: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        succ[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def connect(v: str):  # Tarjan, iterative so that deep graphs cannot hit the recursion limit
        work = [(v, iter(sorted(succ[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(succ[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))

    for v in sorted(set(nodes) | set(succ)):
        if v not in index:
            connect(v)
    out = []
    for component in sorted(components):
        members = set(component)
        start = component[0]
        previous: dict[str, str] = {}
        queue = deque([start])
        while queue:  # shortest way back to start inside the component
            node = queue.popleft()
            for w in sorted(succ[node] & members):
                if w == start:
                    path = [start]
                    while node != start:
                        path.append(node)
                        node = previous[node]
                    path.append(start)
                    path = [start] + path[1:-1][::-1] + [start]
                    queue.clear()
                    break
                if w not in previous:
                    previous[w] = node
                    queue.append(w)
        inside = [e for e in edges if e.source in members and e.target in members]
        out.append((path, inside))
    return out


def check(src: Path = SRC, package: str = PACKAGE, layers: list[tuple[str, ...]] | None = None) -> Report:
    """Read every module of ``package`` under ``src`` and check its imports against ``layers``."""
    graph = Graph(src, package)
    edges, _constants = graph.edges()
    report = Report(package, LAYERS if layers is None else layers, graph.modules, edges, [], [], [], [])
    report.no_floor = sorted(m for m in graph.modules if report.floor(m) is None)
    for e in edges:
        if e.target not in graph.modules:
            continue
        sf, tf = report.floor(e.source), report.floor(e.target)
        sg, tg = report.group(e.source), report.group(e.target)
        why = ""
        if _is_door(e.target) and not _is_door(e.source):
            why = f"{report.short(e.target)} is a door (cli / __main__): only doors import it"
        elif sg != tg and sf is not None and tf is not None and tf >= sf:
            where = "the same floor" if tf == sf else f"floor {tf}"
            why = f"{sg} (floor {sf}) imports {tg} ({where})"
        if not why:
            continue
        if _is_door(e.source) or (e.source == package and e.kind == "face"):
            report.excepted.append(e)
        else:
            report.up_edges.append((e, why))
    report.cycles = _cycles(list(graph.modules), [e for e in edges if e.target in graph.modules])
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.imports", description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="also list each module's imports")
    parser.add_argument("--src", type=Path, default=SRC, help="the folder that holds the package (default: src)")
    args = parser.parse_args(argv)
    report = check(args.src)
    print(report.render(modules=args.modules))
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
