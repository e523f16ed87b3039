"""The admin panel for providers, models and prices (staff only, as all of Django's admin)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from providers import connection, pricing
from providers.models import Model, Price, ProviderAccount, ProviderKind


class ProviderAccountForm(forms.ModelForm):
    base_url = forms.URLField(required=False, assume_scheme="https", max_length=500)
    # Write-only: the stored key is never rendered back into the page.
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ProviderAccount
        fields = (
            "name",
            "kind",
            "base_url",
            "api_key",
            "clear_api_key",
            "enabled",
            "first_token_timeout_s",
            "idle_timeout_s",
            "max_concurrency",
            "gpu_hourly_cost",
            "gpu_tokens_per_s",
        )

    def clean(self):
        cleaned = super().clean()
        # The stored key goes wherever the base URL points: moving it elsewhere without entering the key
        # again would hand the key to that server.
        moved = self.instance.pk is not None and "base_url" in self.changed_data and self.instance.api_key_encrypted
        if moved and not cleaned.get("api_key") and not cleaned.get("clear_api_key"):
            self.add_error("api_key", "Enter the key again to change the base URL (or tick “Clear API key”).")
        return cleaned

    def save(self, commit: bool = True):
        account = super().save(commit=False)
        if self.cleaned_data.get("clear_api_key"):
            account.set_api_key("")
        elif self.cleaned_data.get("api_key"):
            account.set_api_key(self.cleaned_data["api_key"])
        if commit:
            account.save()
        return account


class ModelInline(admin.TabularInline):
    model = Model
    extra = 0
    fields = ("name", "display_name", "enabled", "reasoning", "context_window", "position")


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = ("name", "kind", "base_url", "enabled", "origin", "key_hint")
    list_filter = ("kind", "enabled", "origin")
    readonly_fields = ("origin", "key_hint", "server_status")
    inlines = [ModelInline]
    actions = ["test_connection", "import_models", "derive_prices"]

    @admin.display(description="Key")
    def key_hint(self, account: ProviderAccount) -> str:
        return account.api_key_hint or "—"

    @admin.display(description="Server status")
    def server_status(self, account: ProviderAccount) -> str:
        if account.pk is None or account.kind != ProviderKind.VLLM or not account.base_url:
            return "—"
        return connection.vllm_summary(account.base_url)

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset) -> None:
        for account in queryset:
            report = connection.check_connection(account)
            self.message_user(request, report.message, messages.SUCCESS if report.ok else messages.ERROR)

    @admin.action(description="Import models the provider lists")
    def import_models(self, request, queryset) -> None:
        for account in queryset:
            try:
                added = connection.import_models(account)
            except Exception as exc:  # noqa: BLE001 - shown to the admin, never raised as a 500
                self.message_user(request, f"{account.name}: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{account.name}: {added} new model(s).", messages.SUCCESS)

    @admin.action(description="Set prices from the GPU's hourly cost")
    def derive_prices(self, request, queryset) -> None:
        for account in queryset:
            try:
                prices = pricing.derive_prices(account)
            except ValueError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            rate = prices[0].output if prices else "—"
            self.message_user(request, f"{account.name}: ${rate} per million output tokens for {len(prices)} model(s).")


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0
    fields = ("effective_from", "input", "cached_input", "cache_write", "output", "source")


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ("display_name", "name", "account", "enabled", "reasoning", "context_window", "price_now")
    list_filter = ("account", "enabled", "reasoning")
    list_editable = ("enabled",)
    search_fields = ("name", "display_name")
    fields = ("account", "name", "display_name", "enabled", "reasoning", "context_window", "default_params", "position")
    inlines = [PriceInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account").prefetch_related("prices")

    # A model without a price runs, but its answers cost nothing known: usage counts them apart.
    @admin.display(description="Price now ($ per 1M in / out)")
    def price_now(self, model: Model) -> str:
        price = model.current_price()
        if price is None:
            return "no price"
        return f"{price.input.normalize():f} / {price.output.normalize():f}"


@admin.register(Price)
class PriceAdmin(admin.ModelAdmin):
    list_display = ("model", "effective_from", "input", "cached_input", "cache_write", "output", "source")
    list_filter = ("model__account",)
    date_hierarchy = "effective_from"
