"""Account pages: sign up (an address first, then a mailed link), and personal API tokens. Signing in
and out, password change and reset are Django's own views (accounts/urls.py) with our templates."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import SignupEmailForm, SignupForm, TokenForm
from accounts.models import ApiToken
from accounts.pages import render_page
from accounts.signup_links import read_link, safe_next, send_signup_mail


def _signup_page(view):
    """Sign-up pages are for people signed out, and only while sign-up is open (PRISM_SIGNUP)."""

    @wraps(view)
    def page(request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("canvas-list")
        if not settings.PRISM_SIGNUP:
            return render(request, "accounts/signup_closed.html", status=403)
        return view(request, *args, **kwargs)

    return page


@require_http_methods(["GET", "POST"])
@_signup_page
def signup(request):
    """Only an address: whether it has an account or not, the answer is the same "check your email"."""
    form = SignupEmailForm(request.POST if request.method == "POST" else None)
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    if form.is_valid():
        send_signup_mail(request, form.cleaned_data["email"], next_url)
        return redirect("signup-sent")
    return render(request, "accounts/signup.html", {"form": form, "next": next_url}, status=400 if form.errors else 200)


@require_GET
@_signup_page
def signup_sent(request):
    return render(request, "accounts/signup_sent.html")


@require_http_methods(["GET", "POST"])
@_signup_page
def signup_finish(request, token):
    """The mailed link: the address is proven, so the person chooses a username and password here."""
    link = read_link(token)
    if link is None:
        return render(request, "accounts/signup_finish.html", {"link": None}, status=400)
    form = SignupForm(request.POST if request.method == "POST" else None)
    form.instance.email = link.email  # also lets the password checks refuse a password like the address
    if form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(safe_next(request, link.next_url) or "canvas-list")
    context = {"form": form, "link": link}
    return render(request, "accounts/signup_finish.html", context, status=400 if form.errors else 200)


@login_required
@require_GET
def account(request):
    return render(request, "accounts/account.html")


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    """List, and create: a new token is shown on this one response and never again (only its digest is kept)."""
    form = TokenForm(request.POST or None)
    new_token, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            _, new_token = ApiToken.issue(request.user, name=form.cleaned_data["name"])
            form, status = TokenForm(), 201
        else:
            status = 400
    return _tokens_page(request, form, new_token, status)


@login_required
@require_POST
def token_revoke(request, token_id):
    token = get_object_or_404(ApiToken.objects.active(), pk=token_id, user=request.user)
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return _tokens_page(request, TokenForm()) if request.htmx else redirect("api-tokens")


def _tokens_page(request, form: TokenForm, new_token: str | None = None, status: int = 200):
    context = {"form": form, "new_token": new_token, "tokens": request.user.api_tokens.active().order_by("-created_at")}
    return render_page(request, "accounts/tokens.html", context, status=status)
