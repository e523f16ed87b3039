"""The context preview: what a model would be sent for a prompt not yet submitted, nothing run."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from canvas.models import Canvas, Node
from engine.context import context_for_new_prompt
from providers.models import Model
from providers.registry import adapter_class

# Gemini calls the assistant "model".
_ROLES = {"model": "assistant"}


def wire_module(kind: str):
    """The module of the adapter for this provider kind: each one has `wire_messages`, the very function
    its adapter builds the request body's conversation with."""
    return import_module(adapter_class(kind).__module__)


def request_params(model: Model, settings: dict) -> dict:
    """The params a run of `model` with these generation settings asks its adapter for."""
    return wire_module(model.account.kind).request_params(model.default_params, settings, model.account.kind)


def preview(canvas: Canvas, parents: list[Node], text: str, model: Model, settings: dict | None = None) -> dict:
    module = wire_module(model.account.kind)
    wire = module.wire_messages(context_for_new_prompt(canvas, parents, text))
    return {
        "model": str(model.id),
        "protocol": module.__name__.rpartition(".")[2],
        "messages": as_sent(wire),
        "params": module.sent_params(request_params(model, settings or {})),
        "wire": wire,
    }


def as_sent(wire: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation of a request body as role and content, read from what the adapter built: the
    system prompt first, wherever the protocol puts it, then the turns as they go out (consecutive turns
    of one role joined, an opening turn added, where the protocol wants that)."""
    sent = []
    system = wire.get("system") or wire.get("system_instruction")
    if system:
        sent.append({"role": "system", "content": _text(system)})
    for turn in [*wire.get("messages", ()), *wire.get("contents", ())]:
        sent.append({"role": _ROLES.get(turn["role"], turn["role"]), "content": _text(turn)})
    return sent


def _text(part: Any) -> str:
    """A message's text: a string, or the text of its content blocks or parts."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        return _text(part.get("content", part.get("parts", part.get("text", ""))))
    return "".join(_text(block) for block in part)
