"""Secrets that travel in URLs never reach a log: share-link tokens (/s/<token>/ and a share socket's
?share=<token>), invitation tokens (/teams/join/<token>/), password-reset tokens (/reset/<uid>/<token>/)
and sign-up links (/signup/finish/<token>/).
uvicorn's access log and Django's request warnings write the path; this filter rewrites it first."""

from __future__ import annotations

import logging
import re

_SECRET_IN_PATH = re.compile(r"(/s/|/teams/join/|/signup/finish/|/reset/[^/\s?\"]+/|[?&]share=)[^/\s?&\"']+")
REDACTED = "[redacted]"
# uvicorn's loggers do not propagate to the root handler Django configures; the filter sits on each.
LOGGERS = ("uvicorn.access", "uvicorn.error", "django.request", "django.server", "django.security")


def redact(text: str) -> str:
    return _SECRET_IN_PATH.sub(lambda match: match.group(1) + REDACTED, text)


class RedactUrlSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            # Argument by argument: uvicorn's access formatter unpacks them.
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def install() -> None:
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactUrlSecrets) for f in logger.filters):
            logger.addFilter(RedactUrlSecrets())
