"""What every adapter speaks: a normalised request in, typed stream events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal["text", "reasoning", "usage", "finish", "error"]

ERROR_CODES = (
    "auth",
    "quota",
    "rate_limited",
    "overloaded",
    "context_length",
    "bad_request",
    "timeout",
    "server",
    "network",
    "stream_cut",
    "budget",
    "limit",
    "interrupted",
)


@dataclass(frozen=True)
class Usage:
    """Token counts normalised across providers: input includes cached, output includes reasoning."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False


class ProviderError(Exception):
    """A provider failure in words a user understands. Only the engine decides to retry."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class StreamEvent:
    kind: EventKind
    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    error: ProviderError | None = None


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AccountConfig:
    """What an adapter needs to reach a provider; built from a ProviderAccount, never sent to a task."""

    kind: str
    base_url: str
    api_key: str
    first_token_timeout_s: float = 120.0
    idle_timeout_s: float = 60.0
    account_id: str = ""
    max_concurrency: int = 0  # 0: no limit
    name: str = ""  # the account's name, as users see it ("waiting for a slot at vLLM")

    def __repr__(self) -> str:  # keys never reach a log line through a repr
        return f"AccountConfig(kind={self.kind!r}, base_url={self.base_url!r})"


class Adapter:
    """One wire protocol. Subclasses implement `stream`; timing, retries and cost live in the engine."""

    def __init__(self, account: AccountConfig):
        self.account = account

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def list_models(self) -> list[str]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections; called once the stream is finished or abandoned."""
