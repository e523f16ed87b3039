"""Server → browser: the typed payload of every canvas event (engine.sender puts them on a canvas's group)."""

from __future__ import annotations

from typing import Literal, TypedDict


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


class CommentCreated(TypedDict):
    type: Literal["comment.created"]
    comment: dict  # canvas.comments.comment_payload


class CommentDeleted(TypedDict):
    type: Literal["comment.deleted"]
    comment: dict  # {"id", "node"}


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
    | CommentCreated
    | CommentDeleted
)
