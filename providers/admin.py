from __future__ import annotations

from django import forms
from django.contrib import admin

from providers.models import Model, Price, ProviderAccount


class ProviderAccountForm(forms.ModelForm):
    # Write-only: the stored key is never rendered back into the page.
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current key.",
    )

    class Meta:
        model = ProviderAccount
        fields = (
            "name",
            "kind",
            "base_url",
            "api_key",
            "enabled",
            "first_token_timeout_s",
            "idle_timeout_s",
            "max_concurrency",
            "gpu_hourly_cost",
        )

    def save(self, commit: bool = True):
        account = super().save(commit=False)
        if self.cleaned_data.get("api_key"):
            account.set_api_key(self.cleaned_data["api_key"])
        if commit:
            account.save()
        return account


class PriceInline(admin.TabularInline):
    model = Price
    extra = 0


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin):
    form = ProviderAccountForm
    list_display = ("name", "kind", "base_url", "enabled", "origin", "key_hint")
    readonly_fields = ("origin", "key_hint")

    @admin.display(description="Key")
    def key_hint(self, account: ProviderAccount) -> str:
        return account.api_key_hint or "—"


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    list_display = ("display_name", "name", "account", "enabled", "reasoning")
    list_filter = ("account", "enabled")
    inlines = [PriceInline]
