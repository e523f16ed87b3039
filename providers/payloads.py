from __future__ import annotations

from django.utils import timezone

from providers.models import Model


def model_payload(model: Model) -> dict:
    now = timezone.now()
    # `prices` is usually prefetched and ordered newest first.
    price = next((p for p in model.prices.all() if p.effective_from <= now), None)
    return {
        "id": str(model.id),
        "provider_kind": model.account.kind,
        "provider": model.account.name,
        "model": model.name,
        "display_name": model.display_name,
        "reasoning": model.reasoning,
        "simulated": model.simulated,
        "context_window": model.context_window,
        "prices": price.as_dict() if price else None,
    }
