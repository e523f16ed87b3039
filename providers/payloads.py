from __future__ import annotations

from providers import server_series
from providers.models import Model, ProviderKind


def model_payload(model: Model, down_reason: str | None = None) -> dict:
    """`down_reason`: why the model's server is down (server_series.down_accounts), if it is."""
    price = model.current_price()  # `prices` is usually prefetched
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
        "available": down_reason is None,
        "unavailable_reason": down_reason,
    }


def usable_model_payloads() -> list[dict]:
    """Every usable model, each vLLM one marked unavailable while its server's last check failed."""
    models = list(Model.objects.usable().prefetch_related("prices"))
    down = server_series.down_accounts({m.account_id for m in models if m.account.kind == ProviderKind.VLLM})
    return [model_payload(m, down.get(m.account_id)) for m in models]
