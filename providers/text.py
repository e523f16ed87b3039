"""Text from outside (a model's output, a provider's message, a user's field) made safe to store and send.

PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (JSON may carry "\\ud800") cannot be
encoded as UTF-8 for the database, Redis or a WebSocket at all: either would fail a save long after
the text was accepted. Other C0 controls have no place in prose and confuse terminals and exports.
"""

from __future__ import annotations

import re

# C0 controls but tab, newline and carriage return; DEL; every surrogate code point.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")

REDACTED = "[redacted]"


def clean_text(text: str) -> str:
    """`text` without NUL and the other C0 controls (tab, newline and carriage return stay) and with
    each lone surrogate replaced by U+FFFD; a surrogate pair becomes the character it encodes.
    Clean text is returned as it is, at the cost of one scan."""
    if not _UNSAFE.search(text):
        return text
    text = _CONTROLS.sub("", text)
    if _SURROGATES.search(text):
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every occurrence of each secret replaced by a marker (a header echoed whole, as in
    `Bearer <key>`, keeps its scheme and loses its key)."""
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text
