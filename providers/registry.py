"""Provider kind → adapter class, imported on first use."""

from __future__ import annotations

from importlib import import_module

from providers.base import AccountConfig, Adapter
from providers.http import tls_context

ADAPTERS = {
    "openai": "providers.adapters.openai_compat.OpenAICompatAdapter",
    "deepseek": "providers.adapters.openai_compat.OpenAICompatAdapter",
    "vllm": "providers.adapters.openai_compat.OpenAICompatAdapter",
    "openai_compatible": "providers.adapters.openai_compat.OpenAICompatAdapter",
    "simulator": "providers.adapters.openai_compat.OpenAICompatAdapter",
    "anthropic": "providers.adapters.anthropic.AnthropicAdapter",
    "gemini": "providers.adapters.gemini.GeminiAdapter",
}


def adapter_class(kind: str) -> type[Adapter]:
    try:
        dotted = ADAPTERS[kind]
    except KeyError as exc:
        raise LookupError(f"No adapter for provider kind {kind!r}.") from exc
    module, _, name = dotted.rpartition(".")
    return getattr(import_module(module), name)


def adapter_for(account: AccountConfig) -> Adapter:
    return adapter_class(account.kind)(account)


def preload() -> None:
    """Import every adapter and load the CA store now: a first import (the SDKs are large) would
    otherwise block a process's event loop for most of a second, and a first client about 90 ms, inside
    some user's time to first token."""
    for kind in ADAPTERS:
        adapter_class(kind)
    tls_context()
