"""A canvas with a prompt and its finished answers from two models that are easy to spot anywhere, for the
vote and blind-mode tests: alice (owner, the prompt's author), dave (editor), bob (viewer) in one team;
charlie outside it. Every fact that would tell a model apart is distinctive, so a test can look for it
in any text a channel sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import ApiToken
from canvas.models import Canvas, Edge, Membership, Node, NodeKind, NodeStatus, Role, Team
from providers.models import Model, Price, ProviderAccount


@dataclass
class Arena:
    canvas: Canvas
    prompt: Node
    answers: list[Node]  # finished: orion, vega, orion
    queued: Node
    stranger: Node  # a finished answer of another prompt on the same canvas, by a third model
    models: dict[str, Model]
    users: dict
    tokens: dict = field(default_factory=dict)
    known: dict = field(default_factory=dict)  # model key → its secrets, read once (async tests need them too)

    def client(self, name: str) -> Client:
        if name not in self.tokens:
            self.tokens[name] = ApiToken.issue(self.users[name])[1]
        return Client(headers={"authorization": f"Bearer {self.tokens[name]}"})

    def secrets(self, model_key: str) -> list[str]:
        """What must not reach someone an answer of this model is hidden from."""
        if model_key in self.known:
            return self.known[model_key]
        model = self.models[model_key]
        price = model.prices.first()
        answers = [a for a in self.answers if a.model_id == model.id]
        self.known[model_key] = [
            str(model.id),
            model.name,
            model.display_name,
            model.account.name,
            model.account.kind,
            format(price.input.normalize(), "f"),
            format(price.output.normalize(), "f"),
            *(format(a.cost.normalize(), "f") for a in answers),
        ]
        return self.known[model_key]


MODELS = {
    # key: (account name, provider kind, model name, display name, input price, output price)
    "orion": ("Acme Orion Cloud", "anthropic", "orion-pro-2031", "Orion Pro Deluxe", "3.1415", "9.2653"),
    "vega": ("Vega Vendor Hosting", "gemini", "vega-mini-77", "Vega Mini Turbo", "0.2718", "1.6180"),
}
FIGURES = [  # ttft_ms, tokens_per_s, duration_ms, cost
    (4321, 87.65, 98765, "0.0271828"),
    (1234, 43.21, 56789, "0.0314159"),
    (2468, 12.34, 13579, "0.0577215"),
]


def build_arena(*, blind: bool) -> Arena:
    User = get_user_model()
    users = {name: User.objects.create_user(name, password=f"{name}-password-1") for name in ("alice", "dave", "bob")}
    users["charlie"] = User.objects.create_user("charlie", password="charlie-password-1")
    team = Team.objects.create(name="Evaluators")
    for name, role in (("alice", Role.OWNER), ("dave", Role.EDITOR), ("bob", Role.VIEWER)):
        Membership.objects.create(team=team, user=users[name], role=role)
    models = {}
    for i, (key, (account, kind, name, display, price_in, price_out)) in enumerate(MODELS.items()):
        acc = ProviderAccount.objects.create(name=account, kind=kind, base_url=f"http://127.0.0.1:9/{key}")
        models[key] = Model.objects.create(account=acc, name=name, display_name=display, position=i)
        Price.objects.create(
            model=models[key],
            input=Decimal(price_in),
            cached_input=Decimal(price_in) / 10,
            output=Decimal(price_out),
            effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        )
    canvas = Canvas.objects.create(team=team, title="Blind tasting", created_by=users["alice"])
    prompt = Node.objects.create(
        canvas=canvas, kind=NodeKind.PROMPT, text="Which is better?", created_by=users["alice"], blind=blind
    )
    answers = []
    for i, (key, (ttft, tps, duration, cost)) in enumerate(zip(("orion", "vega", "orion"), FIGURES, strict=True)):
        answers.append(
            Node.objects.create(
                canvas=canvas,
                kind=NodeKind.RESPONSE,
                model=models[key],
                label="ABC"[i] if blind else "",
                status=NodeStatus.DONE,
                text=f"Answer number {i + 1}",
                x=400.0 * i,
                ttft_ms=ttft,
                tokens_per_s=tps,
                duration_ms=duration,
                input_tokens=100,
                output_tokens=200,
                cost=Decimal(cost),
                created_by=users["alice"],
            )
        )
    queued = Node.objects.create(
        canvas=canvas,
        kind=NodeKind.RESPONSE,
        model=models["vega"],
        label="D" if blind else "",
        status=NodeStatus.QUEUED,
        created_by=users["alice"],
    )
    other = Node.objects.create(canvas=canvas, kind=NodeKind.PROMPT, text="Another question", created_by=users["alice"])
    # A model of its own: the arena's two models must appear nowhere but in the blind prompt's answers.
    plain = ProviderAccount.objects.create(name="Plain account", kind="openai", base_url="http://127.0.0.1:9/plain")
    plain_model = Model.objects.create(account=plain, name="plain-1", display_name="Plain One", position=9)
    stranger = Node.objects.create(
        canvas=canvas, kind=NodeKind.RESPONSE, model=plain_model, status=NodeStatus.DONE, text="Elsewhere"
    )
    Edge.objects.bulk_create(
        [Edge(parent=prompt, child=n) for n in [*answers, queued]] + [Edge(parent=other, child=stranger)]
    )
    arena = Arena(canvas, prompt, answers, queued, stranger, models, users)
    for key in MODELS:
        arena.secrets(key)
    return arena
