from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.utils import timezone

from providers import crypto
from providers.base import AccountConfig


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    DEEPSEEK = "deepseek", "DeepSeek API"
    VLLM = "vllm", "vLLM (self-hosted)"
    ANTHROPIC = "anthropic", "Anthropic"
    GEMINI = "gemini", "Google Gemini"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"
    SIMULATOR = "simulator", "Simulator"


class ProviderAccount(models.Model):
    """Where and how to reach one provider. The key is stored encrypted and never leaves the server."""

    class Origin(models.TextChoices):
        ENV = "env", "Environment"
        ADMIN = "admin", "Admin panel"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.URLField(max_length=500, blank=True)
    api_key_encrypted = models.TextField(blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.ADMIN)
    first_token_timeout_s = models.FloatField(default=120.0)
    idle_timeout_s = models.FloatField(default=60.0)
    max_concurrency = models.PositiveIntegerField(default=64)
    gpu_hourly_cost = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Self-hosted only: what the GPU costs per hour, in US dollars.",
    )
    gpu_tokens_per_s = models.FloatField(
        null=True,
        blank=True,
        help_text="Self-hosted only: output tokens per second the server sustains across all requests at "
        "your usual load (the vLLM status line shows the current figure). With the hourly cost, it sets the "
        "derived price.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    @property
    def api_key(self) -> str:
        return crypto.decrypt(self.api_key_encrypted)

    def set_api_key(self, plain: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plain)

    @property
    def api_key_hint(self) -> str:
        return crypto.mask(self.api_key) if self.api_key_encrypted else ""

    def config(self) -> AccountConfig:
        return AccountConfig(
            kind=self.kind,
            base_url=self.base_url,
            api_key=self.api_key,
            first_token_timeout_s=self.first_token_timeout_s,
            idle_timeout_s=self.idle_timeout_s,
            account_id=str(self.id),
            max_concurrency=self.max_concurrency,
            name=self.name,
        )


class ModelQuerySet(models.QuerySet):
    def usable(self) -> ModelQuerySet:
        return self.filter(enabled=True, account__enabled=True).select_related("account")


class Model(models.Model):
    """One model at one provider, as offered to users."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200, help_text="The provider's own model name.")
    display_name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    reasoning = models.BooleanField(default=False)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    default_params = models.JSONField(default=dict, blank=True)
    position = models.IntegerField(default=0)

    objects = ModelQuerySet.as_manager()

    class Meta:
        ordering = ["position", "display_name"]
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="model_unique_per_account")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def provider_kind(self) -> str:
        return self.account.kind

    @property
    def simulated(self) -> bool:
        return self.account.kind == ProviderKind.SIMULATOR

    def price_at(self, when) -> Price | None:
        return self.prices.filter(effective_from__lte=when).order_by("-effective_from").first()

    def current_price(self, now=None) -> Price | None:
        """The price in force now, read from `prices` as prefetched (newest first, Price's ordering)."""
        now = now or timezone.now()
        return next((p for p in self.prices.all() if p.effective_from <= now), None)


class Price(models.Model):
    """US dollars per million tokens, in force from `effective_from` until the next price."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="prices")
    input = models.DecimalField(max_digits=12, decimal_places=6)
    cached_input = models.DecimalField(max_digits=12, decimal_places=6)
    cache_write = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    output = models.DecimalField(max_digits=12, decimal_places=6)
    effective_from = models.DateTimeField()
    source = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-effective_from"]
        constraints = [models.UniqueConstraint(fields=["model", "effective_from"], name="price_unique_per_date")]

    def __str__(self) -> str:
        return f"{self.model} from {self.effective_from:%Y-%m-%d}"

    def as_dict(self) -> dict:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else format(value.normalize(), "f")

        return {
            "input": text(self.input),
            "cached_input": text(self.cached_input),
            "cache_write": text(self.cache_write),
            "output": text(self.output),
            "effective_from": self.effective_from.isoformat(),
        }


class ServerSample(models.Model):
    """One scrape of a self-hosted (vLLM) server's /health and /metrics: gauges as read, counters as the
    server reports them since it started (rates come from the difference between two samples). A server
    that did not answer has `healthy` false, no figures, and `error` saying why."""

    account = models.ForeignKey(ProviderAccount, on_delete=models.CASCADE, related_name="server_samples")
    at = models.DateTimeField(default=timezone.now)
    healthy = models.BooleanField()
    running = models.FloatField(null=True)
    waiting = models.FloatField(null=True)
    kv_cache_use = models.FloatField(null=True, help_text="0 to 1.")
    prefix_cache_queries = models.FloatField(null=True)
    prefix_cache_hits = models.FloatField(null=True)
    generation_tokens = models.FloatField(null=True)
    prompt_tokens = models.FloatField(null=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["at"]
        indexes = [models.Index(fields=["account", "at"], name="server_sample_account_at")]

    def __str__(self) -> str:
        return f"{self.account} at {self.at:%Y-%m-%d %H:%M:%S}"
