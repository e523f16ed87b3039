"""Every page carries a strict Content-Security-Policy and holds no script the policy would refuse: no
inline <script>, no inline event handler, nothing from another origin. The API docs page is served
from the vendored Swagger UI."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client

from accounts import signup_links
from canvas.models import Invite, Node, NodeKind, ShareLink

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class Scripts(HTMLParser):
    """What the browser would run: inline scripts, event-handler attributes, and every src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self.urls: list[str] = []
        self._in_script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handlers += [f"{tag} {name}" for name, _ in attrs if name.startswith("on")]
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "script":
            self._in_script = attributes

    def handle_data(self, data):
        # A data block (json_script) is not run, so the policy allows it.
        script = self._in_script
        if script is not None and "src" not in script and script.get("type") != "application/json" and data.strip():
            self.inline.append(data.strip()[:80])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def parse(html: str) -> Scripts:
    parser = Scripts()
    parser.feed(html)
    return parser


def csp(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy", "")
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


@pytest.fixture
def pages(alice, alice_canvas, django_user_model):
    """Every page a person can reach, signed in or not, with the client that reaches it."""
    alice.is_staff = alice.is_superuser = True
    alice.save()
    team = alice.teams.get(personal=True)
    prompt = Node.objects.create(canvas=alice_canvas, kind=NodeKind.PROMPT, text="Hi", created_by=alice)
    _, share_token = ShareLink.issue(alice_canvas, alice)
    _, invite_token = Invite.issue(team, "viewer", alice)
    member = Client()
    member.force_login(alice)
    guest = Client()
    return [
        (guest, "/accounts/login/"),
        (guest, "/accounts/signup/"),
        (guest, "/accounts/signup/sent/"),
        (guest, f"/accounts/signup/finish/{signup_links.link_token('zoe@example.com')}/"),
        (guest, "/accounts/password/reset/"),
        (guest, "/accounts/password/reset/sent/"),
        (guest, f"/s/{share_token}/"),
        (guest, "/api/docs"),
        (member, "/"),
        (member, f"/canvases/{alice_canvas.id}/"),
        (member, f"/canvases/{alice_canvas.id}/compare/{prompt.id}/"),
        (member, f"/canvases/{alice_canvas.id}/sharing/"),
        (member, "/accounts/"),
        (member, "/accounts/tokens/"),
        (member, "/accounts/password/change/"),
        (member, "/teams/"),
        (member, f"/teams/{team.id}/"),
        (member, f"/teams/join/{invite_token}/"),
        (member, "/servers/"),
        (member, "/admin/"),
        (member, "/admin/providers/provideraccount/add/"),
    ]


def test_every_page_has_a_strict_policy_and_no_inline_or_foreign_script(pages):
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = csp(response)
        assert policy["script-src"] == "'self'", path
        assert policy["img-src"] == "'self' data:", path
        assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'", path
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], path
        assert re.fullmatch(r"'self' ws://testserver wss://testserver", policy["connect-src"]), path
        found = parse(response.content.decode())
        assert found.inline == [], (path, found.inline)
        assert found.handlers == [], (path, found.handlers)
        foreign = [url for url in found.urls if re.match(r"(https?:)?//", url)]
        assert foreign == [], (path, foreign)


def test_no_template_holds_an_inline_script_or_handler():
    for template in TEMPLATES.rglob("*.html"):
        found = parse(template.read_text())
        assert found.inline == [], (template, found.inline)
        assert found.handlers == [], (template, found.handlers)


def test_errors_and_json_carry_the_policy_too(alice):
    assert csp(Client().get("/no-such-page/"))["script-src"] == "'self'"
    assert csp(Client().get("/api/canvases"))["img-src"] == "'self' data:"


def test_the_api_docs_page_uses_the_vendored_swagger_ui():
    html = Client().get("/api/docs").content.decode()

    scripts = parse(html).urls
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in scripts
    assert "/static/vendor/swagger-ui/swagger-ui.css" in scripts
    assert "/static/prism/api-docs.js" in scripts
    assert 'data-openapi-url="/api/openapi.json"' in html
    for url in scripts:
        assert Client().get(url).status_code == 200, url
