"""What the running app is made of: nothing in it imports the tests' simulators and helpers, it has one
HTTP client stack, and the simulator it serves is the OpenAI-compatible one alone (the Claude and Gemini
twins are test fakes)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("accounts", "canvas", "config", "engine", "providers")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _app_modules() -> list[Path]:
    return [path for package in APP_PACKAGES for path in sorted((ROOT / package).rglob("*.py"))]


def test_the_app_imports_nothing_from_tests():
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in _imports(path) if name.split(".")[0] == "tests")
        for path in _app_modules()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_app_serves_one_simulator():
    simulator = ROOT / "providers" / "simulator"
    assert not [path for path in simulator.iterdir() if path.is_dir() and path.name != "__pycache__"]


def test_the_app_speaks_http_through_one_stack():
    """httpx2's interface over aiohttp (providers/http.py): httpx itself, a second stack, is for tests only."""
    offenders = [str(path.relative_to(ROOT)) for path in _app_modules() if "httpx" in _imports(path)]
    assert offenders == []
