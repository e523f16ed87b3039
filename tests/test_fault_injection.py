"""Hundreds of streams against providers that fail at random, watched by clients that come and go.

In this process, as `make run` runs it: the runs and the clients share one event loop and the in-memory
channel layer; the providers are the simulator over real HTTP. Each model is a simulated provider with
its own way of failing (chosen by a seeded random): refusals before the stream (429, 500, 503, an
exhausted quota), some only once (so a retry recovers), errors and cuts mid-stream, dropped connections,
stalls; and clean ones. Prompts fan out to five models each, so every failure streams beside others.

The clients follow the browser's protocol (static/prism/stream.js): join the canvas's group, take the
snapshot of what is running, then apply deltas in seq order; on a gap (their channel overflowed while
they were not reading) they join again. Steady ones read everything; flaky ones leave and come back;
sluggish ones stop reading now and then. What must hold, whatever the interleaving:
- every response ends (done, error, cancelled or interrupted), and its ending is as its provider's fault
  dictates: no failure disturbs another model's stream, so every clean one ends done with its full text;
- what any client ever showed of a response is a prefix of the stored text (no duplicate, no hole), and
  is the stored text whenever the client holds its last seq; a steady client holds it for every response.
"""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from canvas.models import Canvas, Node
from canvas.services import create_prompt
from engine.runner import run_response
from engine.sender import canvas_group, events_in
from engine.snapshots import snapshots

# Imported up front: the registry imports the SDK on first use, which would eat into short timeouts.
from providers.adapters import openai_compat  # noqa: F401
from providers.models import Model, ProviderAccount
from providers.simulator import catalogue
from providers.simulator.plan import build_plan

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SEED = 20_260_417
PROMPTS = 50
FAN_OUT = 5  # 250 streams
CANVASES = 10
PATIENT_ACCOUNTS = 10  # three models each, any fault but a stall
IMPATIENT_ACCOUNTS = 2  # three models each, all stalling; short timeouts
TERMINAL_STATUSES = {"done", "error", "cancelled", "interrupted"}

# Profiles: name → weight. "once" faults fail the model's first request only, so a retry recovers.
PATIENT_PROFILES = {
    "clean": 8,
    "429_once": 2,
    "500_once": 2,
    "503_once": 1,
    "429_always": 1,
    "500_always": 1,
    "503_always": 1,
    "quota": 1,
    "error_after": 2,
    "cut_after": 2,
    "drop": 2,
}
IMPATIENT_PROFILES = {"stall_mid": 2, "stall_first": 1}


@dataclass
class Fault:
    profile: str
    model: str  # the simulator's model name
    options: dict
    after: int | None = None  # where a mid-stream fault strikes (tokens, reasoning included)


def fault_for(profile: str, rng: random.Random, model: str) -> Fault:
    options: dict = {"ttft_ms": rng.randint(0, 40), "tokens_per_s": rng.choice([150, 300, 600]), "length": 0}
    options["length"] = rng.randint(15, 50)
    if model == "sim-reasoner":
        options["reasoning_length"] = rng.randint(4, 12)
    total = options["length"] + options.get("reasoning_length", 0)
    after = rng.randint(1, total - 1)
    once = {"times": 1, "fail_key": uuid.uuid4().hex, "retry_after": 0.05}
    fail = {
        "clean": None,
        "429_once": {"status": 429, **once},
        "500_once": {"status": 500, **once},
        "503_once": {"status": 503, **once},
        "429_always": {"status": 429, "retry_after": 0.05},
        "500_always": {"status": 500, "retry_after": 0.05},
        "503_always": {"status": 503, "retry_after": 0.05},
        "quota": {"status": 429, "quota": True},
        "error_after": {"error_after": after},
        "cut_after": {"cut_after": after},
        "drop": {"cut_after": after, "drop": True},
        "stall_mid": {"stall_after": after, "stall_s": 60},
        "stall_first": {"stall_after": 0, "stall_s": 60},
    }[profile]
    if fail is not None:
        options["fail"] = fail
    mid_stream = profile in ("error_after", "cut_after", "drop", "stall_mid")
    return Fault(profile, model, options, after if mid_stream else None)


def dealing(profiles: dict[str, int], count: int, rng: random.Random) -> list[str]:
    extra = rng.choices(list(profiles), weights=list(profiles.values()), k=count - len(profiles))
    hand = list(profiles) + extra
    rng.shuffle(hand)
    return hand


@sync_to_async
def make_providers(base_url: str, rng: random.Random) -> dict[str, Fault]:
    """Simulated providers, three models each, every model with its fault: model id → Fault."""
    names = ("sim-swift", "sim-steady", "sim-reasoner")
    # Every profile at least once, the rest drawn by weight.
    dealt = {patient: dealing(profiles, count * len(names), rng) for patient, profiles, count in (
        (True, PATIENT_PROFILES, PATIENT_ACCOUNTS), (False, IMPATIENT_PROFILES, IMPATIENT_ACCOUNTS)
    )}  # fmt: skip
    faults = {}
    for number in range(PATIENT_ACCOUNTS + IMPATIENT_ACCOUNTS):
        patient = number < PATIENT_ACCOUNTS
        # A stall is noticed only by the short timeouts of the impatient accounts; elsewhere the
        # timeouts are long, so a busy machine never makes a clean stream look stalled.
        timeout = 30.0 if patient else 1.0
        account = ProviderAccount.objects.create(
            name=f"Faulty {number}", kind="simulator", base_url=base_url,
            first_token_timeout_s=timeout, idle_timeout_s=timeout,
        )  # fmt: skip
        for name in names:
            fault = fault_for(dealt[patient].pop(), rng, name)
            model = Model.objects.create(
                account=account, name=name, display_name=f"{name} ({fault.profile})",
                reasoning=name == "sim-reasoner", default_params={"simulator": fault.options},
            )  # fmt: skip
            faults[str(model.id)] = fault
    return faults


def answer(fault: Fault, prompt: str) -> tuple[str, str, list[tuple[str, str]]]:
    """The simulator's whole answer to `prompt` (text, reasoning) and its tokens in the order sent."""
    body = {"model": fault.model, "messages": [{"role": "user", "content": prompt}], "simulator": fault.options}
    plan = build_plan(body, catalogue.get(fault.model), None)
    return "".join(plan.content), "".join(plan.reasoning), plan.tokens


def split(tokens: list[tuple[str, str]]) -> tuple[str, str]:
    return "".join(t for f, t in tokens if f == "content"), "".join(t for f, t in tokens if f != "content")


def check_ending(node: Node, fault: Fault, prompt: str) -> None:
    """The stored ending is the one the provider's fault dictates."""
    text, reasoning, tokens = answer(fault, prompt)
    where = f"{fault.profile} {fault.model} {node.id}: {node.status} {node.error_code} {node.error_message}"
    profile = fault.profile
    if profile == "clean" or profile.endswith("_once"):
        assert (node.status, node.finish_reason, node.error_code) == ("done", "stop", ""), where
        assert (node.text, node.reasoning) == (text, reasoning), where
        return
    assert node.status == "error", where
    expected_code = {
        "429_always": "rate_limited",
        "500_always": "server",
        "503_always": "overloaded",
        "quota": "quota",
        "error_after": "server",
        "cut_after": "stream_cut",
        "drop": "stream_cut",
        "stall_mid": "timeout",
        "stall_first": "timeout",
    }[profile]
    assert node.error_code == expected_code, where
    if fault.after is None:
        assert (node.text, node.reasoning) == ("", ""), where
    elif profile == "stall_mid":
        # On a busy machine a pause between two tokens may already look like the stall: never more text.
        assert text.startswith(node.text) and reasoning.startswith(node.reasoning), where
        assert len(node.text) + len(node.reasoning) <= sum(len(t) for _, t in tokens[: fault.after]), where
    else:
        assert (node.text, node.reasoning) == split(tokens[: fault.after]), where


@dataclass
class View:
    text: str = ""
    reasoning: str = ""
    seq: int = 0


@dataclass
class Client:
    """A browser on one canvas, as far as the channel layer can tell."""

    canvas_id: str
    kind: str  # steady | flaky | sluggish
    rng: random.Random
    views: dict[str, View] = field(default_factory=dict)
    finals: dict[str, dict] = field(default_factory=dict)
    shown: list[tuple[str, View]] = field(default_factory=list)  # every state replaced by a snapshot
    joins: int = 0
    gaps: int = 0
    channel: str = ""

    async def join(self) -> None:
        layer = get_channel_layer()
        if self.channel:
            await layer.group_discard(canvas_group(self.canvas_id), self.channel)
        # Steady clients' channels never overflow (see the channel layer settings below).
        self.channel = await layer.new_channel(f"{self.kind}.")
        await layer.group_add(canvas_group(self.canvas_id), self.channel)  # join first, then read the snapshot
        self.joins += 1
        for snapshot in await snapshots(self.canvas_id):
            self.snapshot(snapshot["node"])

    async def leave(self) -> None:
        await get_channel_layer().group_discard(canvas_group(self.canvas_id), self.channel)
        self.channel = ""

    def snapshot(self, node: dict) -> None:
        view = self.views.setdefault(node["id"], View())
        if (node.get("seq") or 0) >= view.seq:
            self.shown.append((node["id"], View(view.text, view.reasoning, view.seq)))
            view.text, view.reasoning, view.seq = node["text"], node.get("reasoning") or "", node.get("seq") or 0

    async def apply(self, event: dict) -> None:
        kind = event["type"]
        if kind == "node.delta":
            view = self.views.setdefault(event["node"], View())
            if event["seq"] == view.seq + 1:
                view.text += event["text"]
                view.reasoning += event["reasoning"]
                view.seq = event["seq"]
            elif event["seq"] > view.seq + 1:
                self.gaps += 1
                await self.join()  # a gap: a fresh snapshot closes it
        elif kind in ("node.done", "node.error"):
            self.finals[event["node"]["id"]] = event["node"]
        elif kind == "node.snapshot":
            self.snapshot(event["node"])

    async def receive(self, timeout: float) -> list[dict] | None:
        try:
            message = await asyncio.wait_for(get_channel_layer().receive(self.channel), timeout)
        except TimeoutError:
            return None
        # A tick's deltas for the canvas come as one batch, which a browser gets as one message each.
        return events_in(message)

    async def run(self, stop: asyncio.Event) -> None:
        await self.join()
        while not stop.is_set():
            if self.kind == "flaky" and self.rng.random() < 0.02:
                await self.leave()
                await asyncio.sleep(self.rng.uniform(0.02, 0.3))
                await self.join()
            for event in await self.receive(0.05) or []:
                await self.apply(event)
                if self.kind == "sluggish" and event["type"] == "node.delta" and self.rng.random() < 0.1:
                    await asyncio.sleep(self.rng.uniform(0.1, 0.5))  # not reading while text streams
        while (batch := await self.receive(0.2)) is not None:  # what was sent before the end
            for event in batch:
                await self.apply(event)


@pytest.fixture
def roomy_channel_layer(settings):
    """The in-memory layer as configured, except that steady clients' channels never overflow and
    sluggish ones overflow soon."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            # Pairs of a compiled pattern and a capacity: the in-memory layer does not compile a dict.
            "CONFIG": {"channel_capacity": [(re.compile(r"steady\."), 1_000_000), (re.compile(r"sluggish\."), 8)]},
        }
    }
    settings.PRISM_MAX_RUNS_PER_USER = PROMPTS * FAN_OUT


@pytest.mark.usefixtures("roomy_channel_layer", "close_runner_connections")
async def test_every_stream_ends_as_its_provider_dictates_and_every_client_shows_the_stored_text(
    alice, alice_team, simulator
) -> None:
    _, base_url = simulator
    rng = random.Random(SEED)
    faults = await make_providers(base_url, rng)
    model_ids = list(faults)
    canvases = await sync_to_async(
        lambda: [Canvas.objects.create(team=alice_team, title=f"Faults {i}", created_by=alice) for i in range(CANVASES)]
    )()
    clients = [
        Client(str(canvas.id), kind, random.Random(rng.random()))
        for canvas in canvases
        for kind in ("steady", "flaky", "sluggish")
    ]
    stop = asyncio.Event()
    watching = [asyncio.create_task(client.run(stop)) for client in clients]
    await asyncio.sleep(0.1)  # every client has joined before the first prompt

    runs: list[asyncio.Task] = []
    asked: dict[str, tuple[str, str]] = {}  # response id → (model id, prompt)
    for number in range(PROMPTS):
        canvas = canvases[number % CANVASES]
        prompt = f"Prompt {number}: how do streams fail?"
        chosen = [rng.choice(model_ids) for _ in range(FAN_OUT)]
        models = await sync_to_async(lambda ids=chosen: [Model.objects.get(id=i) for i in ids])()
        _, responses, _ = await sync_to_async(create_prompt)(canvas, alice, prompt, models, [])
        for response in responses:
            asked[str(response.id)] = (str(response.model_id), prompt)
            runs.append(asyncio.create_task(run_response(str(response.id))))
        await asyncio.sleep(rng.uniform(0, 0.05))

    await asyncio.wait_for(asyncio.gather(*runs), 120)  # a guard against a hang, not a speed test
    stop.set()
    await asyncio.wait_for(asyncio.gather(*watching), 60)

    stored = await sync_to_async(lambda: {str(n.id): n for n in Node.objects.filter(id__in=list(asked))})()
    assert len(stored) == PROMPTS * FAN_OUT
    assert {node.status for node in stored.values()} <= TERMINAL_STATUSES
    for node_id, node in stored.items():
        model_id, prompt = asked[node_id]
        check_ending(node, faults[model_id], prompt)

    profiles = defaultdict(int)
    for model_id, _ in asked.values():
        profiles[faults[model_id].profile] += 1
    assert set(profiles) == set(PATIENT_PROFILES) | set(IMPATIENT_PROFILES), profiles  # every fault was tried

    canvas_of = {node_id: str(node.canvas_id) for node_id, node in stored.items()}
    for client in clients:
        for node_id, view in [*client.shown, *client.views.items()]:
            node = stored[node_id]
            where = f"{client.kind} client, {faults[asked[node_id][0]].profile} {node_id}"
            assert view.seq <= node.seq, where
            assert node.text.startswith(view.text) and node.reasoning.startswith(view.reasoning), where
            if view.seq == node.seq:
                assert (view.text, view.reasoning) == (node.text, node.reasoning), where
        for node_id, final in client.finals.items():
            assert (final["status"], final["text"], final["seq"]) == (
                stored[node_id].status,
                stored[node_id].text,
                stored[node_id].seq,
            )
        if client.kind == "steady":
            mine = [node_id for node_id, canvas_id in canvas_of.items() if canvas_id == client.canvas_id]
            assert set(client.finals) == set(mine)  # it saw every response end
            for node_id in mine:
                view, node = client.views.get(node_id, View()), stored[node_id]
                assert (view.text, view.reasoning, view.seq) == (node.text, node.reasoning, node.seq)
    assert any(client.joins > 1 for client in clients if client.kind != "steady")  # clients did come and go
