"""The committed front-end libraries under static/vendor/ match their pins.

Plain file reads: no Django, no network, no npm. The pins and the file layout
come from scripts/vendor_static.py, which is what produces these files.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = REPO_ROOT / "static" / "vendor"
SCRIPT = REPO_ROOT / "scripts" / "vendor_static.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("prism_vendor_static", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vendor_static = _load_script()
VENDORED = vendor_static.VENDORED
SOURCES = vendor_static.SOURCES

VENDORED_FILES = [(name, f"{src['dir']}/{dst}") for name, src in SOURCES.items() for dst in src["files"].values()]


def _read(rel: str) -> str:
    return (VENDOR_DIR / rel).read_text(encoding="utf-8")


def test_pins_are_exact_versions():
    assert set(VENDORED) == {"htmx.org", "dompurify", "marked", "highlight.js", "uplot", "swagger-ui-dist"}
    assert set(SOURCES) == set(VENDORED)
    for name, version in VENDORED.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
    assert VENDORED["htmx.org"].startswith("2."), "Prism is written against htmx 2"


@pytest.mark.parametrize(("name", "rel"), VENDORED_FILES, ids=[r for _, r in VENDORED_FILES])
def test_vendored_file_exists(name, rel):
    path = VENDOR_DIR / rel
    assert path.is_file(), f"{rel} missing; run: python scripts/vendor_static.py"
    assert path.stat().st_size > 0


def test_every_package_ships_its_licence():
    for src in SOURCES.values():
        assert (VENDOR_DIR / src["dir"] / "LICENSE").is_file(), src["dir"]


def test_versions_json_matches_pins():
    data = json.loads(_read("VERSIONS.json"))
    assert data == VENDORED


def test_htmx_embedded_version_matches_pin():
    text = _read("htmx/htmx.min.js")
    assert re.findall(r'version:"([^"]+)"', text) == [VENDORED["htmx.org"]]


def test_dompurify_header_version_matches_pin():
    header = _read("dompurify/purify.min.js").splitlines()[0]
    match = re.search(r"DOMPurify (\d+\.\d+\.\d+)", header)
    assert match, header
    assert match.group(1) == VENDORED["dompurify"]


def test_marked_header_version_matches_pin():
    head = _read("marked/marked.umd.js")[:500]
    match = re.search(r"marked v(\d+\.\d+\.\d+)", head)
    assert match, head
    assert match.group(1) == VENDORED["marked"]


def test_highlight_header_version_matches_pin():
    head = _read("highlight/highlight.min.js")[:500]
    match = re.search(r"Highlight\.js v(\d+\.\d+\.\d+)", head)
    assert match, head
    assert match.group(1) == VENDORED["highlight.js"]


def test_highlight_themes_are_css():
    for theme in ("github", "github-dark"):
        css = _read(f"highlight/styles/{theme}.min.css")
        assert ".hljs" in css, theme


def test_no_websocket_extension_vendored():
    # Prism drives its own WebSocket; the htmx ws extension is not used.
    assert not any(p.name == "ws.js" for p in VENDOR_DIR.rglob("*"))
