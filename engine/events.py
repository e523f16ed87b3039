"""Worker → browser: typed payloads and the one sender that puts them on a canvas's group."""

from __future__ import annotations

from typing import Literal, TypedDict

from channels.layers import get_channel_layer


class NodeSnapshot(TypedDict):
    type: Literal["node.snapshot"]
    node: dict


class NodeCreated(TypedDict):
    type: Literal["node.created"]
    node: dict


class NodeUpdated(TypedDict):
    type: Literal["node.updated"]
    node: dict


class NodeDeleted(TypedDict):
    type: Literal["node.deleted"]
    node: str  # its id: a deleted prompt sends one for itself and one for each of its answers


class NodeDelta(TypedDict):
    type: Literal["node.delta"]
    node: str
    seq: int
    text: str
    reasoning: str


class NodeDone(TypedDict):
    type: Literal["node.done"]
    node: dict


class NodeError(TypedDict):
    type: Literal["node.error"]
    node: dict


class VoteRecorded(TypedDict):
    type: Literal["vote.recorded"]
    vote: dict  # canvas.votes.vote_payload: answer ids and the outcome, never a model


class VoteDeleted(TypedDict):
    type: Literal["vote.deleted"]
    vote: dict  # {"id", "prompt", "judge"}


class PromptRevealed(TypedDict):
    type: Literal["prompt.revealed"]
    prompt: dict
    responses: list[dict]
    models: dict  # model id → {id, display_name}: the answers' models, now shown to everyone


CanvasEvent = (
    NodeSnapshot
    | NodeCreated
    | NodeUpdated
    | NodeDeleted
    | NodeDelta
    | NodeDone
    | NodeError
    | VoteRecorded
    | VoteDeleted
    | PromptRevealed
)

# The consumer's handler for every canvas event (Channels maps "canvas.event" to `canvas_event`).
HANDLER = "canvas.event"
# Its handler for several events in one group message, sent in order ("canvas.batch" → `canvas_batch`).
BATCH_HANDLER = "canvas.batch"


def group_name(canvas_id) -> str:
    return f"canvas.{canvas_id}"


async def send(canvas_id, payload: CanvasEvent) -> None:
    await get_channel_layer().group_send(group_name(canvas_id), {"type": HANDLER, "payload": payload})


async def send_batch(canvas_id, payloads: list[CanvasEvent]) -> None:
    """Several events in one group message: one publish to Redis, however many there are."""
    await get_channel_layer().group_send(group_name(canvas_id), {"type": BATCH_HANDLER, "payloads": payloads})
