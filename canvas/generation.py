"""Generation settings a person asks for per model: read from a prompt's `models` entries, checked."""

from __future__ import annotations

from canvas.errors import invalid
from providers.models import Model

SETTINGS = ("temperature", "max_tokens", "reasoning_effort")
EFFORTS = ("low", "medium", "high")
MAX_TEMPERATURE = 2.0
MAX_OUTPUT_TOKENS = 200_000


def split_entries(entries: list) -> tuple[list[str], list[dict]]:
    """Model ids and the settings asked for each (an entry is an id or {"model": id, ...settings})."""
    ids, settings = [], []
    for entry in entries:
        if isinstance(entry, str):
            ids.append(entry)
            settings.append({})
        else:
            data = entry if isinstance(entry, dict) else entry.model_dump()
            ids.append(str(data["model"]))
            settings.append({name: data[name] for name in SETTINGS if data.get(name) is not None})
    return ids, settings


def check(model: Model, settings: dict) -> dict:
    """The settings if `model` can take them; out of range or not for this model → 400."""
    temperature = settings.get("temperature")
    if temperature is not None and not 0 <= temperature <= MAX_TEMPERATURE:
        raise invalid(f"temperature: must be between 0 and {MAX_TEMPERATURE:g}.")
    max_tokens = settings.get("max_tokens")
    if max_tokens is not None and not 1 <= max_tokens <= MAX_OUTPUT_TOKENS:
        raise invalid(f"max_tokens: must be between 1 and {MAX_OUTPUT_TOKENS}.")
    effort = settings.get("reasoning_effort")
    if effort is not None:
        if effort not in EFFORTS:
            raise invalid(f"reasoning_effort: one of {', '.join(EFFORTS)}.")
        if not model.reasoning:
            raise invalid(f"reasoning_effort: {model.display_name} is not a reasoning model.")
    return dict(settings)
