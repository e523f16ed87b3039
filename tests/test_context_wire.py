"""What each wire protocol receives for a canvas graph, pinned exactly.

Every answer here is a real run (engine.runner.run_response) against the simulator of its protocol over
HTTP: OpenAI-compatible chat completions, Anthropic Messages, Gemini generateContent. What a simulator
records is what the provider would have read; the context preview must show the very same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async

from canvas.models import Canvas, Node
from canvas.services import create_note, create_prompt
from engine.context import context_for_response
from engine.preview import preview
from engine.runner import run_response

# The SDKs are imported up front, not inside the first run.
from providers.adapters import anthropic, gemini, openai_compat  # noqa: F401
from providers.models import Model, ProviderAccount
from tests.fakes.anthropic.app import AnthropicSimulatorApp
from tests.fakes.anthropic.app import create_app as create_anthropic
from tests.fakes.gemini.app import GeminiSimulatorApp
from tests.fakes.gemini.app import create_app as create_gemini
from tests.fakes.openai_compat import SimulatorApp
from tests.fakes.server import serve

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_runner_connections"),
]

ANTHROPIC_KEY = "sk-ant-api03-wire-test-0123456789"
GEMINI_KEY = "AIza-wire-test-0123456789"
PROTOCOLS = ("openai", "anthropic", "gemini")


def fast(**simulator) -> dict:
    return {"simulator": {"ttft_ms": 0, "tokens_per_s": 0, "length": 6, **simulator}}


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[tuple[AnthropicSimulatorApp, str]]:
    app = create_anthropic(prefix="/anthropic", api_key=ANTHROPIC_KEY)
    with serve(app) as base_url:
        yield app, base_url + "/anthropic"  # a bare host, as Anthropic documents it


@pytest.fixture(scope="module")
def gemini_server() -> Iterator[tuple[GeminiSimulatorApp, str]]:
    app = create_gemini(api_key=GEMINI_KEY)
    with serve(app) as base_url:
        yield app, base_url


@pytest.fixture(autouse=True)
def no_default_system_prompt(settings):
    settings.PRISM_SYSTEM_PROMPT = ""


@dataclass
class Wire:
    """The three simulators, a model on each, and the canvas the graph grows on."""

    openai: SimulatorApp
    anthropic: AnthropicSimulatorApp
    gemini: GeminiSimulatorApp
    models: dict[str, Model]
    canvas: Canvas
    user: object

    def last_sent(self, protocol: str) -> dict:
        """The conversation part of the last body a protocol's simulator received."""
        if protocol == "openai":
            return {"messages": self.openai.recent_requests[-1]["messages"]}
        if protocol == "anthropic":
            body = self.anthropic.recent_requests[-1]
            return {key: body[key] for key in ("system", "messages") if key in body}
        body = self.gemini.recent_requests[-1]["body"]
        # The SDK writes the REST field in camelCase; the API takes the snake_case spelling alike.
        system = {"system_instruction": body["systemInstruction"]} if "systemInstruction" in body else {}
        return {**system, "contents": body["contents"]}

    async def ask(self, text: str, models: list[str], parents: list[Node] = ()) -> list[Node]:
        """A prompt below `parents`, its responses run one after another to their end."""
        chosen = [self.models[name] for name in models]
        _, responses, _ = await sync_to_async(create_prompt)(self.canvas, self.user, text, chosen, list(parents))
        finished = []
        for response in responses:
            await run_response(str(response.id))
            finished.append(await sync_to_async(Node.objects.get)(id=response.id))
        return finished

    async def ask_everyone(self, text: str, parents: list[Node]) -> dict[str, dict]:
        """The same prompt to one model of each protocol: what each received, checked against the preview."""
        chosen = [self.models[p] for p in PROTOCOLS]
        _, responses, _ = await sync_to_async(create_prompt)(self.canvas, self.user, text, chosen, list(parents))
        sent = {}
        for protocol, response in zip(PROTOCOLS, responses, strict=True):
            await run_response(str(response.id))
            node = await sync_to_async(Node.objects.get)(id=response.id)
            assert node.status == "done", (protocol, node.error_code, node.error_message)
            sent[protocol] = self.last_sent(protocol)
            shown = await sync_to_async(preview)(self.canvas, list(parents), text, self.models[protocol])
            assert shown["wire"] == sent[protocol], protocol
        return sent


@pytest.fixture
def wire(alice, alice_canvas, sim_models, simulator_app, anthropic_server, gemini_server) -> Wire:
    claude = ProviderAccount.objects.create(name="Claude sim", kind="anthropic", base_url=anthropic_server[1])
    claude.set_api_key(ANTHROPIC_KEY)
    claude.save()
    google = ProviderAccount.objects.create(name="Gemini sim", kind="gemini", base_url=gemini_server[1])
    google.set_api_key(GEMINI_KEY)
    google.save()
    models = {
        "openai": sim_models["sim-swift"],
        "steady": sim_models["sim-steady"],
        "reasoner": sim_models["sim-reasoner"],
        "anthropic": Model.objects.create(account=claude, name="claude-haiku-5-5", display_name="Haiku"),
        "gemini": Model.objects.create(account=google, name="gemini-2.5-flash-lite", display_name="Flash-Lite"),
    }
    for name, model in models.items():
        model.default_params = fast(reasoning_length=5) if name == "reasoner" else fast()
        model.save()
    return Wire(simulator_app, anthropic_server[0], gemini_server[0], models, alice_canvas, alice)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict:
    return {"role": "assistant", "content": text}


def gemini_turn(role: str, text: str) -> dict:
    return {"role": role, "parts": [{"text": text}]}


# --- the shapes of a canvas -----------------------------------------------------------------------------


async def test_a_linear_thread_is_sent_in_order_with_the_system_prompt_apart(wire) -> None:
    wire.canvas.system_prompt = "Answer briefly."
    await sync_to_async(wire.canvas.save)()
    [first] = await wire.ask("What is a token?", ["openai"])

    sent = await wire.ask_everyone("And a stream?", [first])

    assert first.text
    assert sent == {
        "openai": {
            "messages": [
                {"role": "system", "content": "Answer briefly."},
                user("What is a token?"),
                assistant(first.text),
                user("And a stream?"),
            ]
        },
        "anthropic": {
            "system": "Answer briefly.",
            "messages": [user("What is a token?"), assistant(first.text), user("And a stream?")],
        },
        "gemini": {
            "system_instruction": {"role": "user", "parts": [{"text": "Answer briefly."}]},
            "contents": [
                gemini_turn("user", "What is a token?"),
                gemini_turn("model", first.text),
                gemini_turn("user", "And a stream?"),
            ],
        },
    }


async def test_following_up_one_answer_leaves_out_its_siblings(wire) -> None:
    left, right = await wire.ask("Compare two sorts.", ["openai", "steady"])

    sent = await wire.ask_everyone("Say more about that one.", [right])

    assert left.text != right.text
    assert sent == {
        "openai": {"messages": [user("Compare two sorts."), assistant(right.text), user("Say more about that one.")]},
        "anthropic": {
            "messages": [user("Compare two sorts."), assistant(right.text), user("Say more about that one.")]
        },
        "gemini": {
            "contents": [
                gemini_turn("user", "Compare two sorts."),
                gemini_turn("model", right.text),
                gemini_turn("user", "Say more about that one."),
            ]
        },
    }
    assert left.text not in json.dumps(sent)


async def test_a_merge_sends_each_ancestor_once_parents_first_then_by_creation(wire) -> None:
    left, right = await wire.ask("Start.", ["openai", "steady"])
    [deeper] = await wire.ask("Only the left: go on.", ["openai"], [left])

    sent = await wire.ask_everyone("Combine both.", [deeper, right])

    assert sent["openai"] == {
        "messages": [
            user("Start."),
            assistant(left.text),
            assistant(right.text),
            user("Only the left: go on."),
            assistant(deeper.text),
            user("Combine both."),
        ]
    }
    # Protocols that want turns to alternate get the two answers to "Start." joined into one turn.
    assert sent["anthropic"] == {
        "messages": [
            user("Start."),
            assistant(f"{left.text}\n\n{right.text}"),
            user("Only the left: go on."),
            assistant(deeper.text),
            user("Combine both."),
        ]
    }
    assert sent["gemini"] == {
        "contents": [
            gemini_turn("user", "Start."),
            gemini_turn("model", f"{left.text}\n\n{right.text}"),
            gemini_turn("user", "Only the left: go on."),
            gemini_turn("model", deeper.text),
            gemini_turn("user", "Combine both."),
        ]
    }


async def test_answers_from_other_providers_are_followed_up_as_plain_assistant_turns(wire) -> None:
    [claude] = await wire.ask("Name a prime.", ["anthropic"])
    [google] = await wire.ask("Another one?", ["gemini"], [claude])

    sent = await wire.ask_everyone("Which is larger?", [google])

    asked = [("Name a prime.", claude.text), ("Another one?", google.text)]
    turns = [m for q, a in asked for m in (user(q), assistant(a))] + [user("Which is larger?")]
    assert claude.text and google.text
    assert sent == {
        "openai": {"messages": turns},
        "anthropic": {"messages": turns},
        "gemini": {
            "contents": [t for q, a in asked for t in (gemini_turn("user", q), gemini_turn("model", a))]
            + [gemini_turn("user", "Which is larger?")]
        },
    }


async def test_notes_are_user_turns_joined_with_the_prompt_where_roles_must_alternate(wire) -> None:
    [answer] = await wire.ask("Summarise the paper.", ["openai"])
    note = await sync_to_async(create_note)(wire.canvas, wire.user, "The reader is new to this.", [answer])

    sent = await wire.ask_everyone("Explain it again.", [note])

    assert sent == {
        "openai": {
            "messages": [
                user("Summarise the paper."),
                assistant(answer.text),
                user("The reader is new to this."),
                user("Explain it again."),
            ]
        },
        "anthropic": {
            "messages": [
                user("Summarise the paper."),
                assistant(answer.text),
                user("The reader is new to this.\n\nExplain it again."),
            ]
        },
        "gemini": {
            "contents": [
                gemini_turn("user", "Summarise the paper."),
                gemini_turn("model", answer.text),
                gemini_turn("user", "The reader is new to this.\n\nExplain it again."),
            ]
        },
    }


# --- what of an answer is sent ---------------------------------------------------------------------------


async def test_earlier_reasoning_is_never_sent_back_only_the_answer(wire) -> None:
    wire.models["anthropic"].default_params = {**fast(reasoning_length=5), "thinking": {"type": "adaptive"}}
    await sync_to_async(wire.models["anthropic"].save)()
    thinker, claude = await wire.ask("Is 91 prime?", ["reasoner", "anthropic"])

    sent = await wire.ask_everyone("Show the factors.", [thinker, claude])

    assert thinker.reasoning and claude.reasoning
    for protocol in PROTOCOLS:
        raw = json.dumps(sent[protocol])
        assert thinker.reasoning not in raw and claude.reasoning not in raw, protocol
    assert sent["openai"] == {
        "messages": [user("Is 91 prime?"), assistant(thinker.text), assistant(claude.text), user("Show the factors.")]
    }
    assert sent["anthropic"]["messages"][1] == assistant(f"{thinker.text}\n\n{claude.text}")


async def test_a_failed_answer_counts_for_the_text_it_gave_and_is_skipped_without_any(wire) -> None:
    steady = wire.models["steady"]
    steady.default_params = fast(length=20, fail={"error_after": 4})
    await sync_to_async(steady.save)()
    [partial] = await wire.ask("Count slowly.", ["steady"])
    steady.default_params = fast(fail={"status": 400})
    await sync_to_async(steady.save)()
    [empty] = await wire.ask("Count again.", ["steady"])

    sent = await wire.ask_everyone("Go on.", [partial, empty])

    assert (partial.status, empty.status) == ("error", "error") and partial.text and not empty.text
    assert sent["openai"] == {
        "messages": [user("Count slowly."), assistant(partial.text), user("Count again."), user("Go on.")]
    }
    assert sent["anthropic"] == {
        "messages": [user("Count slowly."), assistant(partial.text), user("Count again.\n\nGo on.")]
    }


async def test_a_cancelled_answer_counts_for_its_text_and_a_running_one_is_left_out(wire) -> None:
    done, cancelled = await wire.ask("Two answers.", ["openai", "steady"])
    await sync_to_async(Node.objects.filter(id=cancelled.id).update)(status="cancelled", text="Half an")
    _, [running], _ = await sync_to_async(create_prompt)(
        wire.canvas, wire.user, "Pending.", [wire.models["openai"]], []
    )
    await sync_to_async(Node.objects.filter(id=running.id).update)(status="streaming", text="Not final")

    shown = await sync_to_async(preview)(wire.canvas, [cancelled, running], "Next.", wire.models["openai"])

    assert shown["messages"] == [user("Two answers."), assistant("Half an"), user("Pending."), user("Next.")]
    assert done.text not in json.dumps(shown)


# --- the same context, the same bytes --------------------------------------------------------------------


async def test_the_same_context_is_sent_as_the_same_bytes_every_time(wire) -> None:
    left, right = await wire.ask("Start.", ["openai", "steady"])
    for protocol in PROTOCOLS:
        first, second = await wire.ask("Merge these.", [protocol, protocol], [right, left])
        # Both answers of one prompt are asked with the same context: compare their two whole requests.
        app = getattr(wire, protocol)
        bodies = [r["body"] if protocol == "gemini" else r for r in list(app.recent_requests)[-2:]]
        assert json.dumps(bodies[0]) == json.dumps(bodies[1]), protocol
        assert await sync_to_async(context_for_response)(first) == await sync_to_async(context_for_response)(second)
    shown = [await sync_to_async(preview)(wire.canvas, [right, left], "Merge these.", wire.models["gemini"])]
    shown.append(await sync_to_async(preview)(wire.canvas, [left, right], "Merge these.", wire.models["gemini"]))
    assert json.dumps(shown[0]) == json.dumps(shown[1])
