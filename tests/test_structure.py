"""The shape of the code: no import cycle in the app's packages, dependencies pointing canvas → engine →
providers, one sender of canvas events, one maker of Redis clients.

Read from the source with `ast`, so an import inside a function counts as much as one at the top of a
module (it ties the two modules together all the same, only later)."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Top-level packages that are not the app: the tests themselves and the benchmarks run by hand.
NOT_APP = {"tests", "bench"}
# What the engine may not import: the API's and the pages' concerns.
HTTP_MODULES = ("ninja", "django.http", "django.shortcuts", "django.template", "django.views", "django_htmx")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported name, absolute (a module, or a name in one)
    line: int


def app_packages(root: Path = ROOT) -> list[str]:
    return sorted(p.parent.name for p in root.glob("*/__init__.py") if p.parent.name not in NOT_APP)


def modules(root: Path, packages: list[str]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(name: str, path: Path) -> list[Import]:
    """Every import in the module, at any depth (in functions, under `if TYPE_CHECKING`), absolute."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [Import(name, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            # `from a import b` imports a.b when b is a module, and needs `a` either way.
            found.append(Import(name, base, node.lineno))
            found += [Import(name, f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def owner(target: str, known: dict[str, Path]) -> str | None:
    """The app module an imported name lives in (None: not ours)."""
    while target and target not in known:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(root: Path, packages: list[str]) -> dict[str, dict[str, int]]:
    """module → {module it imports: the line of the first such import}."""
    known = modules(root, packages)
    graph: dict[str, dict[str, int]] = {name: {} for name in known}
    for name, path in known.items():
        for imported in imports(name, path):
            target = owner(imported.target, known)
            if target is not None and target != name:
                graph[name].setdefault(target, imported.line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for module in sorted(graph):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return found


def describe(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(cycle)
    edges = [f"{a} → {b} (line {line})" for a in cycle for b, line in graph[a].items() if b in members]
    return "; ".join(edges)


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    return import_graph(ROOT, app_packages())


@pytest.fixture(scope="module")
def all_imports() -> list[Import]:
    return [i for name, path in modules(ROOT, app_packages()).items() for i in imports(name, path)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# --- no cycles -----------------------------------------------------------------------------------------


def test_the_app_packages_are_the_ones_we_mean() -> None:
    assert {"accounts", "canvas", "config", "engine", "providers"} <= set(app_packages())


def test_no_import_cycle_in_the_app(graph) -> None:
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(describe(c, graph) for c in found)


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path) -> None:
    """The finder itself: a cycle closed by a function's import (and a relative one) is a cycle."""
    package = tmp_path / "app"
    (package / "inner").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "inner" / "__init__.py").write_text("")
    (package / "a.py").write_text("from app.inner import b\n")
    (package / "inner" / "b.py").write_text("from . import c\n")
    (package / "inner" / "c.py").write_text("def later():\n    from app.a import thing\n")
    (package / "d.py").write_text("import app.a\n")  # imports into the cycle, not part of it

    graph = import_graph(tmp_path, ["app"])

    assert cycles(graph) == [["app.a", "app.inner.b", "app.inner.c"]]
    assert "app.a → app.inner.b (line 1)" in describe(cycles(graph)[0], graph)


# --- directions ----------------------------------------------------------------------------------------


def test_providers_import_nothing_of_canvas_or_the_engine(graph) -> None:
    wrong = [
        f"{m} → {t} (line {line})"
        for m in graph
        if _in(m, "providers")
        for t, line in graph[m].items()
        if _in(t, "canvas") or _in(t, "engine")
    ]
    assert not wrong


def test_the_engine_takes_only_the_models_of_canvas(graph) -> None:
    wrong = [
        f"{m} → {t} (line {line})"
        for m in graph
        if _in(m, "engine")
        for t, line in graph[m].items()
        if _in(t, "canvas") and t != "canvas.models"
    ]
    assert not wrong, "the engine may import canvas.models only"


def test_the_engine_has_no_http_concerns(all_imports) -> None:
    wrong = [
        f"{i.source} → {i.target} (line {i.line})"
        for i in all_imports
        if _in(i.source, "engine") and any(_in(i.target, http) for http in HTTP_MODULES)
    ]
    assert not wrong


# --- one way to do each thing ----------------------------------------------------------------------------


def _calls(module_path: Path, names: set[str]) -> list[tuple[str, int]]:
    """Where the module calls any of these (`f(...)`, `x.f(...)`)."""
    found = []
    for node in ast.walk(ast.parse(module_path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in names:
                found.append((name, node.lineno))
    return found


def test_canvas_events_and_notices_are_sent_by_the_sender_alone() -> None:
    """engine.sender is the one place that knows how a message reaches the channel layer; a consumer
    joins and leaves groups on its own layer, which it looks up where Channels' own consumer does (its
    `__call__`, to read its channel), and sends through the sender."""
    wrong = [
        f"{name}:{line} {what}"
        for name, path in modules(ROOT, app_packages()).items()
        if name != "engine.sender"
        for what, line in _calls(path, {"group_send", "get_channel_layer"})
        if not (what == "get_channel_layer" and line in _lines_of_functions_named(path, "__call__"))
    ]
    assert not wrong


def _lines_of_functions_named(module_path: Path, function: str) -> set[int]:
    """The lines of every method or function named `function` in the module."""
    return {
        line
        for node in ast.walk(ast.parse(module_path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        for line in range(node.lineno, node.end_lineno + 1)
    }


def test_redis_clients_are_made_in_one_module() -> None:
    makers = {"Redis", "StrictRedis", "from_url", "ConnectionPool", "BlockingConnectionPool", "RedisCluster"}
    wrong = [
        f"{name}:{line} {what}"
        for name, path in modules(ROOT, app_packages()).items()
        if name != "engine.redis_clients"
        for what, line in _calls(path, makers)
    ]
    assert not wrong, "make Redis clients with engine.redis_clients"
