"""The context preview: what a model would be sent for a prompt not yet submitted, nothing run."""

from __future__ import annotations

from importlib import import_module

from canvas.models import Canvas, Node
from engine.context import context_for_new_prompt
from providers.base import Message
from providers.models import Model
from providers.registry import adapter_class


def wire_module(kind: str):
    """The module of the adapter for this provider kind: each one has `wire_messages`, the very function
    its adapter builds the request body's conversation with."""
    return import_module(adapter_class(kind).__module__)


def preview(canvas: Canvas, parents: list[Node], text: str, model: Model) -> dict:
    messages = context_for_new_prompt(canvas, parents, text)
    module = wire_module(model.account.kind)
    return {
        "model": str(model.id),
        "protocol": module.__name__.rpartition(".")[2],
        "messages": [as_dict(m) for m in messages],
        "wire": module.wire_messages(messages),
    }


def as_dict(message: Message) -> dict:
    return {"role": message.role, "content": message.content}
