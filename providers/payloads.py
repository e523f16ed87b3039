from __future__ import annotations

from providers.models import Model


def model_payload(model: Model) -> dict:
    # `prices` is usually prefetched.
    price = model.current_price()
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
