"""How the API reads a JSON body: strictly, and with its text cleaned.

Python's json module accepts what JSON does not (NaN, Infinity, numbers like 1e999 that overflow to
infinity) and any JSON value as a body. A body here is one JSON object of finite numbers, nested no
deeper than any operation needs, and every string in it is cleaned (providers.text) before a schema
sees it, so no text field can carry a NUL that PostgreSQL refuses or a lone surrogate that cannot be
encoded."""

from __future__ import annotations

import json
import math
from typing import Any

from ninja.parser import Parser

from canvas.errors import invalid
from providers.text import clean_text

# The deepest body an operation reads is an import: file → nodes → node → metrics → value.
MAX_DEPTH = 32


class StrictJsonParser(Parser):
    def parse_body(self, request) -> dict:
        try:
            data = json.loads(request.body, parse_constant=_refuse_constant, parse_float=_finite_float)
        except RecursionError as exc:
            raise invalid(f"The body is nested more than {MAX_DEPTH} levels deep.") from exc
        except ValueError as exc:  # also a body that is not UTF-8 text
            raise invalid(f"The body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise invalid("The body must be a JSON object.")
        return _cleaned(data, 0)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _cleaned(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if depth >= MAX_DEPTH and isinstance(value, dict | list):
        raise invalid(f"The body is nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, dict):
        return {clean_text(k): _cleaned(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_cleaned(v, depth + 1) for v in value]
    return value
