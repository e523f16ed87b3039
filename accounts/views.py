"""Account pages: sign up, and personal API tokens. Signing in and out, password change and reset are
Django's own views (accounts/urls.py) with our templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.forms import SignupForm, TokenForm
from accounts.models import ApiToken
from accounts.pages import render_page


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("canvas-list")
    if not settings.PRISM_SIGNUP:
        return render(request, "accounts/signup_closed.html", status=403)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("canvas-list")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


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
