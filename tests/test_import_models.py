"""`manage.py import_models`: the models any provider account lists, from the command line."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from providers.models import ProviderAccount

pytestmark = pytest.mark.django_db


def import_models(*args: str) -> str:
    out = StringIO()
    call_command("import_models", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.fixture
def ollama(simulator):
    """An OpenAI-compatible account made in the admin panel (Ollama, LM Studio, a gateway)."""
    return ProviderAccount.objects.create(name="Ollama", kind="openai_compatible", base_url=simulator[1])


def test_it_imports_what_a_named_account_lists_and_only_once(ollama):
    assert "Ollama: 3 model(s) added, 3 in all" in import_models("Ollama")

    assert set(ollama.models.values_list("name", flat=True)) == {"sim-swift", "sim-steady", "sim-reasoner"}
    assert "Ollama: 0 model(s) added, 3 in all" in import_models("Ollama")


def test_all_takes_every_enabled_account(ollama, simulator):
    other = ProviderAccount.objects.create(name="LM Studio", kind="openai_compatible", base_url=simulator[1])
    ProviderAccount.objects.create(
        name="Off", kind="openai_compatible", base_url="http://127.0.0.1:9/v1", enabled=False
    )

    output = import_models("--all")

    assert "Ollama: 3 model(s) added" in output and "LM Studio: 3 model(s) added" in output
    assert other.models.count() == 3


def test_an_unknown_account_is_named_with_the_ones_there_are(ollama):
    with pytest.raises(CommandError, match="No provider account named 'Nope'.*Ollama"):
        import_models("Nope")


def test_nothing_named_and_no_all_is_refused(ollama):
    with pytest.raises(CommandError, match="--all"):
        import_models()


def test_an_account_that_does_not_answer_fails_the_command_after_the_others(ollama):
    ProviderAccount.objects.create(name="Down", kind="vllm", base_url="http://127.0.0.1:9/v1")

    with pytest.raises(CommandError, match="Down"):
        import_models("Down", "Ollama")
    assert ollama.models.count() == 3
