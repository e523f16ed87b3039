"""Provider keys are encrypted at rest and never leave the server: not in the admin, the API or a page. (And the
admin's list of models, beside the keys' pages, shows the price each model has now.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from providers import crypto
from providers.models import Model, Price, ProviderAccount

pytestmark = pytest.mark.django_db

SECRET = "sk-live-0123456789abcdefSECRET-tail9876"


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords need not resist brute force here; hashing them slowly costs seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def account() -> ProviderAccount:
    account = ProviderAccount(name="OpenAI test", kind="openai", base_url="https://api.openai.com/v1")
    account.set_api_key(SECRET)
    account.save()
    Model.objects.create(account=account, name="gpt-test", display_name="GPT Test")
    return account


def stored_column(account: ProviderAccount) -> str:
    """The key column exactly as the database holds it (a text column: nothing converts it on the way)."""
    return ProviderAccount.objects.filter(pk=account.pk).values_list("api_key_encrypted", flat=True).get()


def assert_no_key(content: bytes | str, account: ProviderAccount) -> None:
    text = content.decode() if isinstance(content, bytes) else content
    assert SECRET not in text
    assert SECRET[:-4] not in text
    assert account.api_key_encrypted not in text


# --- at rest ------------------------------------------------------------------------------------


def test_the_key_is_stored_encrypted(account):
    column = stored_column(account)

    assert column
    assert SECRET not in column
    assert SECRET[:12] not in column
    assert crypto.decrypt(column) == SECRET


def test_the_key_round_trips(account):
    assert ProviderAccount.objects.get(pk=account.pk).api_key == SECRET


def test_an_account_without_a_key_has_an_empty_one():
    account = ProviderAccount.objects.create(name="Local", kind="vllm", base_url="http://127.0.0.1:9/v1")

    assert stored_column(account) == ""
    assert account.api_key == ""
    assert account.api_key_hint == ""


def test_encrypting_twice_gives_different_ciphertexts():
    assert crypto.encrypt(SECRET) != crypto.encrypt(SECRET)


def test_a_key_still_decrypts_after_a_new_encryption_key_is_put_first(account, settings):
    old_keys = list(settings.PRISM_ENCRYPTION_KEYS)
    new_key = Fernet.generate_key().decode()
    settings.PRISM_ENCRYPTION_KEYS = [new_key, *old_keys]

    reloaded = ProviderAccount.objects.get(pk=account.pk)
    assert reloaded.api_key == SECRET

    # Re-encrypted with the newest key, the old keys can be retired.
    rotated = crypto.rotate(reloaded.api_key_encrypted)
    settings.PRISM_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt(rotated) == SECRET


def test_a_key_cannot_be_read_without_its_encryption_key(account, settings):
    settings.PRISM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    reloaded = ProviderAccount.objects.get(pk=account.pk)

    with pytest.raises(ValueError, match="PRISM_ENCRYPTION_KEYS"):
        reloaded.config()


@pytest.mark.parametrize(("plain", "hint"), [(SECRET, "…9876"), ("sk-short", "…"), ("", "")])
def test_a_hint_shows_at_most_the_last_four_characters(plain, hint):
    assert crypto.mask(plain) == hint


# --- never shown --------------------------------------------------------------------------------


@pytest.fixture
def admin_client(django_user_model) -> Client:
    admin = django_user_model.objects.create_superuser("root", password="root-password-1")
    client = Client()
    client.force_login(admin)
    return client


def test_the_admin_form_never_renders_the_key(admin_client, account):
    response = admin_client.get(f"/admin/providers/provideraccount/{account.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert_no_key(page, account)
    assert "…9876" in page
    assert 'type="password"' in page


def test_the_admin_list_shows_only_the_keys_tail(admin_client, account):
    response = admin_client.get("/admin/providers/provideraccount/")

    assert response.status_code == 200
    assert_no_key(response.content, account)
    assert "…9876" in response.content.decode()


def change_form_data(client: Client, account: ProviderAccount, **changes) -> dict:
    """What a browser would post back from the change form as rendered, with `changes` typed in."""
    response = client.get(f"/admin/providers/provideraccount/{account.pk}/change/")
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is True:
                data[form.add_prefix(name)] = "on"
            elif value is not None and value is not False:
                data[form.add_prefix(name)] = str(value)
    return {**data, **changes}


def test_saving_the_admin_form_without_a_key_keeps_the_key(admin_client, account):
    response = admin_client.post(
        f"/admin/providers/provideraccount/{account.pk}/change/",
        change_form_data(admin_client, account, name="Renamed"),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Renamed"
    assert account.api_key == SECRET


def test_a_key_entered_in_the_admin_is_stored_encrypted(admin_client, account):
    new_secret = "sk-rotated-key-000000000000-abcd"

    response = admin_client.post(
        f"/admin/providers/provideraccount/{account.pk}/change/",
        change_form_data(admin_client, account, api_key=new_secret),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.api_key == new_secret
    assert new_secret not in stored_column(account)
    assert new_secret not in admin_client.get(f"/admin/providers/provideraccount/{account.pk}/change/").content.decode()


def test_moving_the_base_url_needs_the_key_entered_again(admin_client, account):
    url = f"/admin/providers/provideraccount/{account.pk}/change/"
    before = account.base_url

    moved = admin_client.post(url, change_form_data(admin_client, account, base_url="https://collector.example/v1"))

    assert moved.status_code == 200 and "Enter the key again to change the base URL" in moved.content.decode()
    account.refresh_from_db()
    assert account.base_url == before and account.api_key == SECRET

    with_key = change_form_data(admin_client, account, base_url="https://gateway.example/v1", api_key="sk-gw-key-1")
    assert admin_client.post(url, with_key).status_code == 302
    account.refresh_from_db()
    assert (account.base_url, account.api_key) == ("https://gateway.example/v1", "sk-gw-key-1")


def test_the_key_is_not_in_the_models_api(alice_token, account):
    response = Client(headers={"authorization": f"Bearer {alice_token}"}).get("/api/models")

    assert response.status_code == 200
    assert [m["model"] for m in response.json()] == ["gpt-test"]
    assert_no_key(response.content, account)
    assert "…9876" not in response.content.decode()


def test_the_key_is_not_in_the_canvas_page(alice, alice_canvas, account):
    client = Client()
    client.force_login(alice)

    response = client.get(f"/canvases/{alice_canvas.id}/")

    assert response.status_code == 200
    assert "GPT Test" in response.content.decode()
    assert_no_key(response.content, account)


def test_the_admin_can_remove_a_key(admin_client, account):
    response = admin_client.post(
        f"/admin/providers/provideraccount/{account.pk}/change/",
        change_form_data(admin_client, account, clear_api_key="on"),
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert stored_column(account) == ""
    assert account.api_key_hint == ""


# --- prices in the models' list -----------------------------------------------------------------------


def test_the_models_list_shows_each_models_price_now_or_that_it_has_none(admin_client, account):
    priced = Model.objects.create(account=account, name="gpt-priced", display_name="GPT Priced")
    now = datetime.now(UTC)
    for since, input_, output in ((now - timedelta(days=400), "2", "8"), (now - timedelta(days=1), "1.25", "10"),
                                  (now + timedelta(days=30), "9", "90")):  # fmt: skip
        Price.objects.create(
            model=priced, input=Decimal(input_), cached_input=Decimal(0), output=Decimal(output), effective_from=since
        )

    page = admin_client.get("/admin/providers/model/").content.decode()

    rows = dict(re.findall(r"<tr>.*?>(GPT \w+)</a>(.*?)</tr>", page, re.S))
    assert '<td class="field-price_now">1.25 / 10</td>' in rows["GPT Priced"]  # the one in force, not the next
    assert '<td class="field-price_now">no price</td>' in rows["GPT Test"]
