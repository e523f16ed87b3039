"""Provider keys at rest: MultiFernet with keys from PRISM_ENCRYPTION_KEYS (newest first)."""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.PRISM_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("A provider key cannot be decrypted with PRISM_ENCRYPTION_KEYS.") from exc


def rotate(token: str) -> str:
    """Re-encrypt with the newest key, so older keys can be retired."""
    return fernet().rotate(token.encode()).decode() if token else ""


def mask(plain: str) -> str:
    return f"…{plain[-4:]}" if len(plain) >= 12 else "…" if plain else ""
