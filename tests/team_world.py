"""Two teams and everything in them, for the access tests: team A (alice owner, dave editor, bob and erin
viewers) with canvas A, and team B (charlie's personal team) with canvas B. Every object has a twin in
the other team, so a test can hand team B's ids to team A's endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from accounts.signup_links import link_token
from canvas.models import (
    Canvas,
    Comment,
    Edge,
    Invite,
    Membership,
    Node,
    NodeKind,
    NodeStatus,
    Preset,
    Role,
    ShareLink,
    Team,
    Vote,
)
from providers.models import Model, ProviderAccount

PERSONAS = ("anonymous", "outsider", "viewer", "editor", "owner", "share")
USERNAMES = {"outsider": "charlie", "viewer": "bob", "editor": "dave", "owner": "alice"}


@dataclass
class World:
    users: dict = field(default_factory=dict)  # persona → user; also "erin", a second viewer no persona is
    ids: dict = field(default_factory=dict)  # name → id or raw token, to fill paths and bodies
    own_team: dict = field(default_factory=dict)  # persona → their personal team's id
    sessions: dict = field(default_factory=dict)  # persona → session key, once sign_in_everyone() ran
    clients: dict = field(default_factory=dict)

    def client(self, persona: str) -> Client:
        """A browser as this persona: signed in, anonymous, or anonymous holding canvas A's share link.
        Once everyone is signed in, each persona's one client is reused with its cookies reset: a new
        Client loads the middleware again, and WhiteNoise then walks every static file."""
        if self.sessions:
            client = self.clients.setdefault(persona, Client())
            client.cookies = SimpleCookie()
            if persona in self.sessions:
                client.cookies["sessionid"] = self.sessions[persona]
            return client
        client = Client()
        if persona == "share":
            assert client.get(f"/s/{self.ids['share_token']}/").status_code == 200
        elif persona != "anonymous":
            client.force_login(self.users[persona])
        return client

    def sign_in_everyone(self) -> None:
        """Keep one session per persona, so that each request need not sign in again."""
        cookies = {persona: self.client(persona).cookies.get("sessionid") for persona in PERSONAS}
        self.sessions = {persona: cookie.value for persona, cookie in cookies.items() if cookie is not None}

    def value(self, name: str, persona: str) -> str:
        if name == "own_team":
            return self.own_team.get(persona, self.ids["team"])
        if name == "own_member":
            return self.ids.get(f"member_of_{persona}", self.ids["member"])
        return self.ids[name]


def build_world() -> World:
    User = get_user_model()
    world = World()
    names = ["alice", "dave", "bob", "erin", "charlie"]
    people = {name: User.objects.create_user(name, email=f"{name}@example.com") for name in names}
    world.users = {persona: people[name] for persona, name in USERNAMES.items()} | {"erin": people["erin"]}
    for persona, user in world.users.items():
        world.own_team[persona] = str(Membership.objects.get(user=user, team__personal=True).team_id)

    team = Team.objects.create(name="Team A")
    roles = {"alice": Role.OWNER, "dave": Role.EDITOR, "bob": Role.VIEWER, "erin": Role.VIEWER}
    members = {name: Membership.objects.create(team=team, user=people[name], role=role) for name, role in roles.items()}
    account = ProviderAccount.objects.create(name="Sim", kind="simulator", base_url="http://127.0.0.1:9/v1")
    model = Model.objects.create(account=account, name="sim-swift", display_name="Swift")

    canvas, nodes = _canvas(team, people["alice"], model, "Canvas A")
    vote = _vote(nodes, people["dave"])
    comment = Comment.objects.create(node=nodes["note"], author=people["bob"], text="Nice note")
    invite, invite_token = Invite.issue(team, Role.VIEWER, people["alice"])
    link, share_token = ShareLink.issue(canvas, people["alice"])
    revoked, revoked_token = ShareLink.issue(canvas, people["alice"])
    ShareLink.objects.filter(pk=revoked.pk).update(revoked_at=canvas.created_at)

    # Deleted canvases (restorable): one in each team, A's with a note and a share link made before.
    deleted = Canvas.objects.create(team=team, title="Deleted A", created_by=people["alice"])
    deleted_note = Node.objects.create(canvas=deleted, kind=NodeKind.NOTE, text="Note on Deleted A")
    _, deleted_share_token = ShareLink.issue(deleted, people["alice"])
    Canvas.objects.filter(pk=deleted.pk).update(deleted_at=timezone.now())

    team_b = Team.objects.get(pk=world.own_team["outsider"])
    canvas_b, nodes_b = _canvas(team_b, people["charlie"], model, "Canvas B")
    vote_b = _vote(nodes_b, people["charlie"])
    comment_b = Comment.objects.create(node=nodes_b["note"], author=people["charlie"], text="Private to B")
    invite_b, invite_b_token = Invite.issue(team_b, Role.VIEWER, people["charlie"])
    link_b, share_b_token = ShareLink.issue(canvas_b, people["charlie"])
    deleted_b = Canvas.objects.create(team=team_b, title="Deleted B", created_by=people["charlie"])
    Canvas.objects.filter(pk=deleted_b.pk).update(deleted_at=timezone.now())
    preset = Preset.objects.create(name="A's set", owner=people["alice"], team=team, entries=[{"model": str(model.id)}])
    preset_b = Preset.objects.create(name="B's set", owner=people["charlie"], team=team_b, entries=[])

    world.ids = {
        "team": str(team.id),
        "canvas": str(canvas.id),
        **{name: str(node.id) for name, node in nodes.items()},
        "comment": str(comment.id),
        "vote": str(vote.id),
        "member": str(members["erin"].key),
        "member_of_owner": str(members["alice"].key),
        "member_of_editor": str(members["dave"].key),
        "member_of_viewer": str(members["bob"].key),
        "invite": str(invite.id),
        "invite_token": invite_token,
        "signup_token": link_token("newcomer@example.com"),
        "link": str(link.id),
        "share_token": share_token,
        "revoked_share_token": revoked_token,
        "api_token": str(ApiToken.issue(people["alice"], name="laptop")[0].id),
        "model": str(model.id),
        "team_b": str(team_b.id),
        "canvas_b": str(canvas_b.id),
        **{f"{name}_b": str(node.id) for name, node in nodes_b.items()},
        "comment_b": str(comment_b.id),
        "vote_b": str(vote_b.id),
        "member_b": str(Membership.objects.get(team=team_b, user=people["charlie"]).key),
        "invite_b": str(invite_b.id),
        "invite_b_token": invite_b_token,
        "link_b": str(link_b.id),
        "share_b_token": share_b_token,
        "deleted_canvas": str(deleted.id),
        "deleted_note": str(deleted_note.id),
        "deleted_share_token": deleted_share_token,
        "deleted_canvas_b": str(deleted_b.id),
        "preset": str(preset.id),
        "preset_b": str(preset_b.id),
    }
    return world


def _canvas(team: Team, owner, model: Model, title: str) -> tuple[Canvas, dict[str, Node]]:
    canvas = Canvas.objects.create(team=team, title=title, created_by=owner)
    prompt = Node.objects.create(canvas=canvas, kind=NodeKind.PROMPT, text=f"Question on {title}", created_by=owner)
    common = {"canvas": canvas, "kind": NodeKind.RESPONSE, "model": model, "created_by": owner, "billed_team": team}
    response = Node.objects.create(**common, status=NodeStatus.DONE, text=f"Answer on {title}", seq=3)
    second = Node.objects.create(**common, status=NodeStatus.DONE, text=f"Another answer on {title}", seq=2)
    queued = Node.objects.create(**common, status=NodeStatus.QUEUED)
    note = Node.objects.create(canvas=canvas, kind=NodeKind.NOTE, text=f"Note on {title}", created_by=owner)
    Edge.objects.bulk_create([Edge(parent=prompt, child=child) for child in (response, second, queued)])
    nodes = {"prompt": prompt, "response": response, "second_response": second, "queued": queued, "note": note}
    return canvas, nodes


def _vote(nodes: dict[str, Node], user) -> Vote:
    a, b = sorted((nodes["response"], nodes["second_response"]), key=lambda n: str(n.id))
    return Vote.objects.create(
        canvas=a.canvas, prompt=nodes["prompt"], a=a, b=b, model_a=a.model, model_b=b.model, outcome="tie", user=user
    )


def remove_world(world: World) -> None:
    """Delete what build_world made (for a world built once per module, outside any test's transaction)."""
    users = list(world.users.values())
    Team.objects.filter(memberships__user__in=users).delete()
    ProviderAccount.objects.filter(models__id=world.ids["model"]).delete()
    get_user_model().objects.filter(pk__in=[u.pk for u in users]).delete()
