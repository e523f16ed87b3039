"""Comments on nodes: stored, then told to everyone on the canvas as `comment.created` / `comment.deleted`.

Members comment (viewers included); share-link guests neither comment nor see comments.
"""

from __future__ import annotations

from canvas.access import display_name
from canvas.errors import invalid
from canvas.models import Comment, Node
from engine import events, sender
from providers.text import clean_text

MAX_CHARS = 10_000
# What a socket is sent on connect: enough to catch up after a drop, bounded for a busy canvas.
RECENT = 200


def comment_payload(comment: Comment) -> dict:
    return {
        "id": str(comment.id),
        "node": str(comment.node_id),
        "author": display_name(comment.author) if comment.author_id else "deleted user",
        "text": comment.text,
        "created_at": comment.created_at.isoformat(),
    }


def comment_text(text) -> str:
    text = clean_text(text).strip() if isinstance(text, str) else ""
    if not text:
        raise invalid("A comment needs some text.")
    if len(text) > MAX_CHARS:
        raise invalid(f"A comment is at most {MAX_CHARS} characters.")
    return text


def create(node: Node, author, text) -> Comment:
    return Comment.objects.create(node=node, author=author, text=comment_text(text))


def for_node(node: Node) -> list[dict]:
    return [comment_payload(c) for c in node.comments.select_related("author")]


def recent(canvas_id) -> list[dict]:
    """The canvas's latest comments, oldest first."""
    rows = Comment.objects.filter(node__canvas_id=canvas_id).select_related("author").order_by("-created_at")[:RECENT]
    return [comment_payload(c) for c in reversed(rows)]


def created_event(comment: Comment) -> events.CommentCreated:
    return events.CommentCreated(type="comment.created", comment=comment_payload(comment))


def deleted_event(comment: Comment) -> events.CommentDeleted:
    return events.CommentDeleted(type="comment.deleted", comment={"id": str(comment.id), "node": str(comment.node_id)})


def announce(canvas_id, event: events.CommentCreated | events.CommentDeleted) -> None:
    """From a request: tell the canvas once the comment is committed."""
    sender.send_on_commit(canvas_id, [event])
