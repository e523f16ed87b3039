"""What a response's model is sent: its prompt's ancestry on the canvas, as chat messages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from canvas.models import Node, NodeStatus
from canvas.services import create_note, create_prompt
from engine.context import context_for_response
from providers.base import Message
from providers.models import Model, ProviderAccount

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_default_system_prompt(settings):
    settings.PRISM_SYSTEM_PROMPT = ""


@pytest.fixture
def models():
    account = ProviderAccount.objects.create(name="Context account", kind="simulator")
    return [
        Model.objects.create(account=account, name=name, display_name=name, position=i)
        for i, name in enumerate(("sim-swift", "sim-steady"))
    ]


@pytest.fixture
def ask(alice, alice_canvas, models):
    """Ask `text` below `parents`; answers (one per model) get `answers` as their finished text."""

    def ask(text: str, parents: tuple | list = (), answers: tuple | list = ()) -> list[Node]:
        chosen = models[: max(1, len(answers))]
        _, responses, _ = create_prompt(alice_canvas, alice, text, chosen, list(parents))
        for response, answer in zip(responses, answers, strict=False):
            response.text, response.status = answer, NodeStatus.DONE
            response.save(update_fields=["text", "status"])
        return responses

    return ask


def user(text: str) -> Message:
    return Message("user", text)


def assistant(text: str) -> Message:
    return Message("assistant", text)


def test_a_first_prompt_is_sent_alone(ask) -> None:
    [response] = ask("Hello?")
    assert context_for_response(response) == (user("Hello?"),)


def test_a_linear_thread_alternates_user_and_assistant(ask) -> None:
    [first] = ask("What is a token?", answers=["A piece of text."])
    [second] = ask("And a stream?", parents=[first])
    assert context_for_response(second) == (
        user("What is a token?"),
        assistant("A piece of text."),
        user("And a stream?"),
    )


def test_a_follow_up_of_one_response_leaves_out_its_siblings(ask) -> None:
    chosen, sibling = ask("Compare these.", answers=["Swift's answer.", "Steady's answer."])
    [follow_up] = ask("Go on.", parents=[chosen])
    messages = context_for_response(follow_up)
    assert messages == (user("Compare these."), assistant("Swift's answer."), user("Go on."))
    assert assistant(sibling.text) not in messages


def test_a_responses_own_siblings_are_not_in_its_context(ask) -> None:
    first, second = ask("Compare these.", answers=["", ""])
    assert context_for_response(first) == context_for_response(second) == (user("Compare these."),)


def test_a_merge_sends_each_ancestor_once_in_creation_order(ask) -> None:
    left, right = ask("Start.", answers=["Left answer.", "Right answer."])
    # The right answer is the older one: ties between ready nodes go by creation, not by edge position.
    Node.objects.filter(id=right.id).update(created_at=left.created_at - timedelta(seconds=1))
    [merged] = ask("Combine both.", parents=[left, right])
    assert context_for_response(merged) == (
        user("Start."),
        assistant("Right answer."),
        assistant("Left answer."),
        user("Combine both."),
    )


def test_a_merge_of_branches_of_different_depth_keeps_parents_before_children(ask) -> None:
    left, right = ask("Start.", answers=["Left answer.", "Right answer."])
    [deeper] = ask("Only left: go on.", parents=[left], answers=["Left goes on."])
    [merged] = ask("Combine both.", parents=[deeper, right])
    messages = context_for_response(merged)
    assert messages == (
        user("Start."),
        assistant("Left answer."),
        assistant("Right answer."),
        user("Only left: go on."),
        assistant("Left goes on."),
        user("Combine both."),
    )
    assert len(set(messages)) == len(messages)


def test_notes_become_user_messages(alice, alice_canvas, ask) -> None:
    [answer] = ask("Summarise the paper.", answers=["It is about caches."])
    note = create_note(alice_canvas, alice, "Remember: the reader is new to this.", [answer])
    [follow_up] = ask("Explain it again.", parents=[note])
    assert context_for_response(follow_up) == (
        user("Summarise the paper."),
        assistant("It is about caches."),
        user("Remember: the reader is new to this."),
        user("Explain it again."),
    )


def test_the_canvas_system_prompt_comes_first(alice_canvas, ask) -> None:
    alice_canvas.system_prompt = "You are terse."
    alice_canvas.save(update_fields=["system_prompt"])
    [first] = ask("Hi.", answers=["Hello."])
    [second] = ask("Bye.", parents=[first])
    assert context_for_response(second) == (
        Message("system", "You are terse."),
        user("Hi."),
        assistant("Hello."),
        user("Bye."),
    )


def test_the_configured_system_prompt_is_the_fallback(settings, ask) -> None:
    settings.PRISM_SYSTEM_PROMPT = "Be helpful."
    [response] = ask("Hi.")
    assert context_for_response(response)[0] == Message("system", "Be helpful.")


def test_the_same_node_gives_the_same_messages_twice(ask) -> None:
    left, right = ask("Start.", answers=["Left answer.", "Right answer."])
    Node.objects.filter(id=right.id).update(created_at=left.created_at)  # a tie must still have one order
    [merged] = ask("Combine both.", parents=[left, right])
    assert context_for_response(merged) == context_for_response(merged)
    assert context_for_response(Node.objects.get(id=merged.id)) == context_for_response(merged)
