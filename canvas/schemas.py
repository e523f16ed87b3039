"""Request and response shapes of the API, which also make up its OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from ninja.schema import DjangoGetter
from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

from canvas.comments import MAX_CHARS as MAX_COMMENT_CHARS
from canvas.membership import MAX_EXPIRY_DAYS
from canvas.services import MAX_COORDINATE, MAX_SIZE, MAX_TEXT, MIN_SIZE
from providers.base import ERROR_CODES


class PricesOut(Schema):
    input: str
    cached_input: str
    cache_write: str | None
    output: str
    effective_from: str


class ModelOut(Schema):
    id: str
    provider_kind: Literal["openai", "deepseek", "vllm", "anthropic", "gemini", "openai_compatible", "simulator"]
    provider: str
    model: str
    display_name: str
    reasoning: bool
    simulated: bool
    context_window: int | None
    prices: PricesOut | None
    available: bool = Field(True, description="False while the model's self-hosted server fails its checks.")
    unavailable_reason: str | None = None


class Payload(BaseModel):
    """An answer read from a payload dict (engine.payloads), never from a model instance: plain pydantic,
    without ninja's Schema, whose per-object wrapper (made to read ORM attributes) cost ten times the
    validation itself: ~45 µs per node, so 45 ms on the canvas API at 1,000 nodes."""

    model_config = ConfigDict(from_attributes=True)


class ErrorOut(Payload):
    code: str
    message: str


class MetricsOut(Payload):
    queue_ms: int | None
    ttft_ms: int | None
    duration_ms: int | None
    tokens_per_s: float | None
    input_tokens: int | None
    cached_input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    usage_estimated: bool


class NodeOut(Payload):
    id: str
    canvas: str
    kind: Literal["prompt", "response", "note"]
    parents: list[str]
    x: float
    y: float
    w: float
    h: float
    text: str
    created_at: str
    blind: bool | None = Field(None, description="Prompts: its answers are labelled and their models hidden.")
    revealed: bool | None = Field(None, description="Prompts: a blind prompt its author revealed to everyone.")
    label: str | None = Field(None, description='Responses of a blind prompt: "A", "B", …')
    hidden: bool | None = Field(
        None, description="True on an answer whose model, cost and speed are hidden until the caller votes."
    )
    model: str | None = None
    status: Literal["queued", "streaming", "done", "error", "cancelled", "interrupted"] | None = None
    finish_reason: Literal["stop", "length", "content_filter"] | None = None
    reasoning: str | None = None
    seq: int | None = None
    error: ErrorOut | None = None
    metrics: MetricsOut | None = None
    cost: str | None = Field(None, description="US dollars as a decimal string; null when the model has no price.")
    params: dict[str, Any] | None = Field(
        None, description="Responses: the settings asked for (temperature, max_tokens, reasoning_effort)."
    )


class CanvasOut(Schema):
    id: str
    title: str
    team: str
    system_prompt: str
    blind: bool = Field(..., description="The default for new prompts: blind or not.")
    tags: list[str] = Field(default_factory=list, description="Short labels the team files the canvas under.")
    created_at: str
    updated_at: str


class CanvasWithNodes(CanvasOut):
    nodes: list[NodeOut]


class CanvasIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    team: str | None = None


# Finite numbers in bounds: NaN, infinities and numbers that overflow layout maths are refused.
Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
Size = Annotated[float, Field(allow_inf_nan=False, ge=MIN_SIZE, le=MAX_SIZE)]


class ModelEntryIn(Schema):
    """A model with generation settings; each is sent as the model's protocol spells it."""

    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not silently the default

    model: str
    temperature: float | None = Field(None, allow_inf_nan=False, description="0 to 2.")
    max_tokens: int | None = Field(None, description="The answer's length limit in tokens: 1 to 200000.")
    reasoning_effort: Literal["low", "medium", "high"] | None = Field(
        None, description="Reasoning models only; a thinking budget where the protocol takes one."
    )


ModelEntry = str | ModelEntryIn


class PromptIn(Schema):
    text: str = Field(..., min_length=1, max_length=200_000)
    models: list[ModelEntry] = Field(..., min_length=1, description="Model ids or models with settings.")
    parents: list[str] = Field(default_factory=list, max_length=100)
    x: Coordinate | None = None
    y: Coordinate | None = None
    blind: bool | None = Field(
        None, description="Label the answers A, B, … and hide their models until you vote. Default: the canvas's."
    )


class PromptOut(Payload):
    prompt: NodeOut
    responses: list[NodeOut]
    warnings: list[ErrorOut] = Field(
        default_factory=list, description='What the caller should know, e.g. {"code": "budget"} near the budget.'
    )


class ErrorEnvelope(Schema):
    error: ErrorOut


class NoteIn(Schema):
    text: str = Field(..., max_length=MAX_TEXT, description="May be empty: a note can be written after it is placed.")
    parents: list[str] = Field(default_factory=list, max_length=100)
    x: Coordinate | None = None
    y: Coordinate | None = None


class ObjectIn(Schema):
    """A body whose fields are all optional must still be a JSON object, or `[1, 2]` would pass as `{}`."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        raw = data._obj if isinstance(data, DjangoGetter) else data  # ninja wraps what it validates
        if not isinstance(raw, dict):
            raise ValueError("The body must be a JSON object.")
        return data


class NodePatch(ObjectIn):
    """Only these fields can change; any other field in the body is ignored."""

    x: Coordinate | None = None
    y: Coordinate | None = None
    w: Size | None = None
    h: Size | None = None
    text: str | None = Field(None, max_length=MAX_TEXT, description="Prompts and notes only.")


MAX_TAGS, MAX_TAG = 20, 40
Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG)]


class CanvasPatch(ObjectIn):
    """Only these fields change; any other field in the body is ignored."""

    title: str | None = Field(None, min_length=1, max_length=200)
    system_prompt: str | None = Field(None, max_length=MAX_TEXT)
    blind: bool | None = Field(None, description="Whether new prompts are blind unless they say otherwise.")
    tags: list[Tag] | None = Field(
        None, max_length=MAX_TAGS, description=f"Replaces the tags: at most {MAX_TAGS}, each 1–{MAX_TAG} characters."
    )


class SearchResultOut(Schema):
    canvas: str
    title: str = Field(..., description="The canvas's title.")
    node: str | None = Field(..., description="The matching node, or null where the canvas's title matched.")
    snippet: str = Field(..., description="Plain text around the match.")


class RerunIn(ObjectIn):
    text: str | None = Field(None, max_length=MAX_TEXT, description="Default: the old prompt's text.")
    models: list[ModelEntry] | None = Field(
        None,
        min_length=1,
        description="Model ids or models with settings, repeats allowed. Default: the models that answered the "
        "old prompt, with their settings.",
    )


class CancelOut(Schema):
    node: NodeOut = Field(..., description="The node cancelled: a response, or the prompt whose fan-out stops.")
    cancelled: list[str] = Field(..., description="Ids of the responses being stopped.")


class ContextIn(Schema):
    text: str = Field(
        "", max_length=MAX_TEXT, description="The prompt being written; blank previews the context alone."
    )
    parents: list[str] = Field(default_factory=list, max_length=100)
    model: ModelEntry


class MessageOut(Schema):
    role: Literal["system", "user", "assistant"]
    content: str


class ContextOut(Schema):
    model: str
    protocol: Literal["openai_compat", "anthropic", "gemini"]
    messages: list[MessageOut] = Field(
        ...,
        description="The messages as the model's protocol sends them: the system prompt first (wherever the "
        "protocol puts it), consecutive turns of one role joined where the protocol wants that (Anthropic, Gemini).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The generation settings as the request body carries them: temperature, "
        "max_tokens / max_completion_tokens, reasoning_effort (OpenAI-compatible); temperature, max_tokens, "
        "thinking (Anthropic); generationConfig (Gemini).",
    )
    wire: dict[str, Any] = Field(
        ...,
        description="The conversation part of the request body the model's adapter builds: "
        '{"messages"} (OpenAI-compatible), {"system"?, "messages"} (Anthropic), '
        '{"system_instruction"?, "contents"} (Gemini).',
    )


# --- canvas files (export and import) ------------------------------------------------------------------

Count = Annotated[int, Field(ge=0, le=2_147_483_647)]


class FileModel(Schema):
    provider_kind: str = Field(..., max_length=32)
    model: str = Field(..., max_length=200)
    display_name: str = Field(..., max_length=200)


class FileError(Schema):
    code: Literal[ERROR_CODES]  # type: ignore[valid-type]
    message: str = Field(..., max_length=10_000)


class FileMetrics(Schema):
    queue_ms: Count | None = None
    ttft_ms: Count | None = None
    duration_ms: Count | None = None
    tokens_per_s: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    input_tokens: Count | None = None
    cached_input_tokens: Count | None = None
    output_tokens: Count | None = None
    reasoning_tokens: Count | None = None
    usage_estimated: bool = False


# Python's datetime ends at years 1 and 9999, so a time near either end overflows when it is moved to
# UTC or read back from the database; times in a file are kept well inside.
EARLIEST_TIME, LATEST_TIME = datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def _storable_time(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_TIME <= value < LATEST_TIME:  # compared before converting, which could overflow
        raise ValueError(f"must be between {EARLIEST_TIME.year} and {LATEST_TIME.year}")
    return value.astimezone(UTC)


FileTime = Annotated[datetime, AfterValidator(_storable_time)]


class FileNode(Schema):
    id: str = Field(..., min_length=1, max_length=100, description="Only links nodes within the file.")
    kind: Literal["prompt", "response", "note"]
    parents: list[str] = Field(default_factory=list, max_length=100)
    x: Coordinate = 0.0
    y: Coordinate = 0.0
    w: Size = 320.0
    h: Size = 200.0
    text: str = ""
    created_at: FileTime | None = None
    model: FileModel | None = None
    status: Literal["queued", "streaming", "done", "error", "cancelled", "interrupted"] | None = None
    finish_reason: Literal["stop", "length", "content_filter"] | None = None
    reasoning: str = ""
    error: FileError | None = None
    metrics: FileMetrics | None = None
    cost: Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=10, allow_inf_nan=False)] | None = Field(
        None, description="US dollars as a decimal string."
    )


class CanvasFileMeta(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    system_prompt: str = Field("", max_length=MAX_TEXT)


class CanvasFile(Schema):
    """A canvas as a file: what the JSON export writes and the import reads."""

    format: Literal["prism.canvas"]
    version: Literal[1]
    canvas: CanvasFileMeta
    nodes: list[FileNode] = Field(..., max_length=20_000, description="Parents before children.")


class ImportIn(CanvasFile):
    team: str | None = Field(None, description="The team to import into (also accepted as ?team=); default personal.")


# --- teams, invitations, share links and comments (canvas/api_teams.py) --------------------------------


RoleName = Literal["owner", "editor", "viewer"]


class TeamOut(Schema):
    id: str
    name: str
    personal: bool
    role: RoleName = Field(..., description="The caller's role in the team.")
    created_at: str


class MemberOut(Schema):
    id: str
    name: str
    username: str
    role: RoleName


class TeamDetailOut(TeamOut):
    members: list[MemberOut]


class TeamIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)


class InviteIn(Schema):
    role: RoleName = "viewer"
    expires_in_days: int | None = Field(7, ge=1, le=MAX_EXPIRY_DAYS, description="null: never expires.")


class InviteOut(Schema):
    id: str
    team: str
    role: RoleName
    created_at: str
    expires_at: str | None


class InviteCreatedOut(InviteOut):
    token: str = Field(..., description="Shown once: only its digest is stored.")
    url: str


class AcceptOut(Schema):
    team: TeamOut
    joined: bool = Field(..., description="False when the caller was already in the team (their role is unchanged).")


class RoleIn(Schema):
    role: RoleName


class ShareLinkIn(Schema):
    name: str = Field("", max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=MAX_EXPIRY_DAYS)


class ShareLinkOut(Schema):
    id: str
    canvas: str
    name: str
    hint: str
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None
    active: bool


class ShareLinkCreatedOut(ShareLinkOut):
    token: str = Field(..., description="Shown once: only its digest is stored.")
    url: str


class MoveIn(Schema):
    team: str


class CommentIn(Schema):
    text: str = Field(..., min_length=1, max_length=MAX_COMMENT_CHARS)


class CommentOut(Schema):
    id: str
    node: str
    author: str
    text: str
    created_at: str
