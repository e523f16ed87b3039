"""How many characters each model's output token is, from what its provider reported for its recent
answers. The canvas page is served these, so that the live speed of a model's first answer on a page
(metrics.js counts tokens from the characters streamed) agrees with the final figure the provider reports."""

from __future__ import annotations

from django.core.cache import cache
from django.db.models.functions import Length

from canvas.models import Node, NodeKind, NodeStatus

RECENT = 20  # answers per model: enough to even out one odd answer, few enough to read fast
MIN_TOKENS = 20  # a shorter answer's ratio says little
CACHE_S = 600  # a model's tokenizer does not change; its ratio need not be read on every page
MISS_CACHE_S = 30


def chars_per_token(model_ids: list[str]) -> dict[str, float]:
    """model id → characters (answer and reasoning) per reported output token, for the models that have
    answered with a usage report; each read at most once per CACHE_S."""
    keys = {model_id: f"chars-per-token:{model_id}" for model_id in model_ids}
    cached = cache.get_many(list(keys.values()))
    ratios = {model_id: cached[key] for model_id, key in keys.items() if key in cached}
    for model_id in keys.keys() - ratios.keys():
        ratio = _measured(model_id)
        ratios[model_id] = ratio
        # A model yet to answer is asked again soon (its first answer may come any moment), but not on
        # every page: finding that it has none can mean reading through many rows.
        cache.set(keys[model_id], ratio, CACHE_S if ratio else MISS_CACHE_S)
    return {model_id: ratio for model_id, ratio in ratios.items() if ratio}


def _measured(model_id: str) -> float:
    # One short index-assisted read per model: its latest answers with a provider's own token count.
    rows = (
        Node.objects.filter(
            model_id=model_id,
            kind=NodeKind.RESPONSE,
            status=NodeStatus.DONE,
            usage_estimated=False,
            output_tokens__gte=MIN_TOKENS,
        )
        .order_by("-created_at")
        .annotate(chars=Length("text") + Length("reasoning"))
        .values_list("chars", "output_tokens")[:RECENT]
    )
    chars = tokens = 0
    for row_chars, row_tokens in rows:
        chars += row_chars
        tokens += row_tokens
    ratio = chars / tokens if tokens else 0.0
    return round(ratio, 3) if 0.5 < ratio < 20 else 0.0
