"""What every adapter speaks: a normalised request in, typed stream events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from providers.text import clean_text, redact

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
# A provider's message is cut to this length (after redaction, so a cut never leaves half a key).
MAX_MESSAGE_CHARS = 2000


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
    """One wire protocol. Subclasses implement `_stream` and `_list_models`; callers use `stream` and
    `list_models`, through which every provider error passes on its way out (`safe_error`). Timing,
    retries and cost live in the engine."""

    def __init__(self, account: AccountConfig):
        self.account = account

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        events = self._stream(request)
        try:
            async for event in events:
                if event.error is not None:
                    event = StreamEvent("error", error=self.safe_error(event.error))
                yield event
        finally:
            await events.aclose()  # at once: a stream abandoned mid-way releases its connection now

    async def list_models(self) -> list[str]:
        try:
            return await self._list_models()
        except ProviderError as error:
            # Without its cause: the SDK's exception may quote the provider's answer, key and all.
            raise self.safe_error(error) from None

    def safe_error(self, error: ProviderError) -> ProviderError:
        """The error as it may be stored, logged, sent and exported. A provider's message is not ours:
        a gateway may echo the key it was sent (raw, or as `Bearer <key>`), or carry NUL bytes."""
        message = clean_text(redact(error.message, (self.account.api_key,)))[:MAX_MESSAGE_CHARS]
        return ProviderError(error.code, message, retryable=error.retryable, retry_after=error.retry_after)

    def _stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    async def _list_models(self) -> list[str]:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections; called once the stream is finished or abandoned."""
