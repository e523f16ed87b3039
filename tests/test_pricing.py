"""Self-hosted prices derived from the GPU's hourly cost, and the admin action that sets them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from providers.models import Model, ProviderAccount
from providers.pricing import derive_prices, output_price_per_million


def test_a_gpu_at_two_dollars_an_hour_and_1000_tokens_a_second_costs_55_cents_a_million():
    # 1e6 tokens take 1,000 s = 0.2778 h of a $2/h GPU.
    assert output_price_per_million(Decimal("2"), 1000.0) == Decimal("0.555556")


def test_a_throughput_of_zero_is_refused():
    with pytest.raises(ValueError):
        output_price_per_million(Decimal("2"), 0)


@pytest.mark.django_db
def test_every_model_of_the_account_gets_a_price_in_force_from_now():
    account = ProviderAccount.objects.create(
        name="GPU box",
        kind="vllm",
        base_url="http://vllm:8000/v1",
        gpu_hourly_cost=Decimal("3.60"),
        gpu_tokens_per_s=500,
    )
    model = Model.objects.create(account=account, name="deepseek-r1", display_name="DeepSeek R1")
    [price] = derive_prices(account)
    assert price.output == Decimal("2.000000")
    assert price.input == Decimal("0.200000")
    assert price.cached_input == Decimal("0.020000")
    assert "derived" in price.source
    assert model.price_at(timezone.now()) == price


@pytest.mark.django_db
def test_an_account_without_a_gpu_cost_gets_no_derived_price():
    account = ProviderAccount.objects.create(name="Hosted", kind="openai")
    with pytest.raises(ValueError, match="hourly cost"):
        derive_prices(account)


@pytest.mark.django_db
def test_the_admin_action_sets_the_derived_prices(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-password-1")
    client.force_login(admin)
    account = ProviderAccount.objects.create(
        name="GPU box", kind="vllm", base_url="http://vllm:8000/v1", gpu_hourly_cost=Decimal("2"), gpu_tokens_per_s=1000
    )
    model = Model.objects.create(account=account, name="deepseek-r1", display_name="DeepSeek R1")
    response = client.post(
        "/admin/providers/provideraccount/",
        {"action": "derive_prices", "_selected_action": [str(account.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert model.prices.get().output == Decimal("0.555556")
