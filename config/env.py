"""Small typed readers for the environment: the environment is the truth, and a bad value fails loudly."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """An empty value counts as unset (docker compose passes `${X:-}` through as "")."""
    return os.environ.get(name) or default


def env_secret(name: str, default: str = "") -> str:
    """A secret may come from NAME or from a file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def env_secret_list(name: str) -> list[str]:
    """A comma-separated secret, from NAME or from the file named by NAME_FILE."""
    return _split(env_secret(name))


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {raw!r}")


def env_int(name: str, default: int) -> int:
    value = env_optional_int(name)
    return default if value is None else value


def env_optional_int(name: str) -> int | None:
    """None when unset, for a setting that only overrides something when it is given."""
    return _number(name, int, "an integer")


def env_float(name: str, default: float) -> float:
    value = _number(name, float, "a number")
    return default if value is None else value


def _number(name: str, parse, kind: str):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be {kind}, not {raw!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return _split(raw)


def _split(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]
