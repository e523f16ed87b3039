#!/usr/bin/env python3
"""Vendor the pinned front-end libraries into ``static/vendor/``.

Prism serves every browser asset itself (WhiteNoise); nothing is loaded from a
CDN at run time. This script is how the committed files under ``static/vendor/``
are (re)produced: for each pinned package it runs ``npm pack <name>@<version>``
into a temporary directory, reads just the needed files out of the tarball and
writes them, with the package's licence, to ``static/vendor/<short-name>/``.
It then writes ``static/vendor/VERSIONS.json`` (package name -> version).

To upgrade a library: change its version in ``VENDORED``, run
``python scripts/vendor_static.py``, run the tests, commit the result.

Stdlib only; needs ``npm`` on PATH (and registry access) only when run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# Package name -> exact pinned version. VERSIONS.json mirrors this dict.
VENDORED = {
    "htmx.org": "2.0.11",
    "dompurify": "3.5.0",
    "marked": "18.2.1",
    "highlight.js": "11.12.0",
    "uplot": "1.6.32",
    "swagger-ui-dist": "5.36.0",
}

# How each package is fetched and laid out:
#   npm:   the npm package that is packed (highlight.js's prebuilt browser
#          bundle and themes ship as @highlightjs/cdn-assets, same version)
#   dir:   the folder under static/vendor/
#   files: path inside the package -> path under static/vendor/<dir>/
SOURCES = {
    "htmx.org": {
        "npm": "htmx.org",
        "dir": "htmx",
        "files": {
            "dist/htmx.min.js": "htmx.min.js",
            "LICENSE": "LICENSE",
        },
    },
    "dompurify": {
        "npm": "dompurify",
        "dir": "dompurify",
        "files": {
            "dist/purify.min.js": "purify.min.js",
            # Dual-licensed: Apache-2.0 OR MPL-2.0; keep both texts.
            "LICENSE": "LICENSE",
            "LICENSE-MPL": "LICENSE-MPL",
        },
    },
    "marked": {
        "npm": "marked",
        "dir": "marked",
        "files": {
            # The UMD build is already minified; it defines the global `marked`.
            "lib/marked.umd.js": "marked.umd.js",
            "LICENSE": "LICENSE",
        },
    },
    "highlight.js": {
        "npm": "@highlightjs/cdn-assets",
        "dir": "highlight",
        "files": {
            "highlight.min.js": "highlight.min.js",
            "styles/github.min.css": "styles/github.min.css",
            "styles/github-dark.min.css": "styles/github-dark.min.css",
            "LICENSE": "LICENSE",
        },
    },
    # Charts of the leaderboard, usage and server pages.
    "uplot": {
        "npm": "uplot",
        "dir": "uplot",
        "files": {
            "dist/uPlot.iife.min.js": "uPlot.iife.min.js",
            "dist/uPlot.min.css": "uPlot.min.css",
            "LICENSE": "LICENSE",
        },
    },
    # The API docs page (/api/docs), served from here so it works offline.
    "swagger-ui-dist": {
        "npm": "swagger-ui-dist",
        "dir": "swagger-ui",
        "files": {
            "swagger-ui-bundle.js": "swagger-ui-bundle.js",
            "swagger-ui.css": "swagger-ui.css",
            "LICENSE": "LICENSE",
            "NOTICE": "NOTICE",
        },
    },
}

REPO_ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = REPO_ROOT / "static" / "vendor"


def npm_pack(spec: str, dest: Path) -> Path:
    """Run ``npm pack <spec>`` in *dest* and return the tarball's path."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("vendor_static: npm is not on PATH")
    result = subprocess.run(
        [npm, "pack", spec, "--json", "--silent"],
        cwd=dest,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(result.stdout)
    return dest / info[0]["filename"]


def extract(tarball: Path, wanted: dict[str, str], out_dir: Path) -> None:
    """Copy the members in *wanted* (package path -> output path) to *out_dir*.

    npm tarballs put everything under ``package/``. Only the named regular
    files are read; nothing else from the archive touches the disk.
    """
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for src, dst in wanted.items():
            member = members.get(f"package/{src}")
            if member is None:
                sys.exit(f"vendor_static: {tarball.name} has no {src}")
            target = out_dir / dst
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as fh:
                target.write_bytes(fh.read())


def main() -> int:
    if set(VENDORED) != set(SOURCES):
        sys.exit("vendor_static: VENDORED and SOURCES list different packages")
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prism-vendor-") as tmp:
        tmp_path = Path(tmp)
        for name, version in VENDORED.items():
            source = SOURCES[name]
            spec = f"{source['npm']}@{version}"
            print(f"packing {spec}")
            tarball = npm_pack(spec, tmp_path)
            out_dir = VENDOR_DIR / source["dir"]
            if out_dir.exists():
                shutil.rmtree(out_dir)  # drop files from the previous pin
            out_dir.mkdir(parents=True)
            extract(tarball, source["files"], out_dir)
            for dst in source["files"].values():
                print(f"  static/vendor/{source['dir']}/{dst}")
    versions = VENDOR_DIR / "VERSIONS.json"
    versions.write_text(json.dumps(VENDORED, indent=2) + "\n", encoding="utf-8")
    print("wrote static/vendor/VERSIONS.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
