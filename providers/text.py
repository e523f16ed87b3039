"""Text from outside (model output, API fields) made safe to store, send and render.

PostgreSQL refuses NUL in text, a lone UTF-16 surrogate (JSON `\\ud800`) cannot be encoded as UTF-8 for
the database or the socket, and C0 control characters other than newline, carriage return and tab have
no meaning in a canvas and break some readers. One function cleans them, so every entry point agrees."""

from __future__ import annotations

import re

_UNWANTED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """`value` without NUL and C0 control characters (newline, carriage return and tab are kept), and
    with each lone surrogate replaced by U+FFFD; a well-formed surrogate pair becomes its character."""
    if not _UNWANTED.search(value):
        return value  # the common case costs one scan
    if _SURROGATES.search(value):
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _CONTROLS.sub("", value)
