"""Sign-up starts from an email address: the address gets a signed, expiring link that proves it, and
nobody else learns whether it was registered already. An address that has an account gets a mail that
says so instead (with the way to reset its password); the page shown is the same either way."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

# Namespaces the signature: no other signed value of Prism's can pass for a sign-up link.
SALT = "accounts.signup-link"


@dataclass(frozen=True)
class SignupLink:
    email: str
    next_url: str


def account_for_email(email: str):
    """The account that has this address, if any (one account per address, so a reset knows whose)."""
    return get_user_model().objects.filter(email__iexact=email.strip()).first()


def safe_next(request: HttpRequest, next_url: str) -> str:
    """`next_url` if it stays on this site, else empty."""
    allowed = url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure())
    return next_url if next_url and allowed else ""


def link_token(email: str, next_url: str = "") -> str:
    return signing.dumps({"email": email, "next": next_url}, salt=SALT)


def read_link(token: str) -> SignupLink | None:
    """The address a link proves, or None if it is tampered with, too old, or already used: a used
    link's address has an account by then, and one address makes one account."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.PRISM_SIGNUP_LINK_MAX_AGE)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("email"), str):
        return None
    if account_for_email(payload["email"]) is not None:
        return None
    next_url = payload.get("next")
    return SignupLink(payload["email"], next_url if isinstance(next_url, str) else "")


def send_signup_mail(request: HttpRequest, email: str, next_url: str = "") -> None:
    """The link to finish signing up, or, for an address that has an account, a mail that says so."""
    existing = account_for_email(email)
    if existing is None:
        template = "accounts/signup_email.txt"
        subject = "Finish creating your Prism account"
        url = reverse("signup-finish", args=[link_token(email, safe_next(request, next_url))])
        context = {"link": request.build_absolute_uri(url)}
    else:
        template = "accounts/signup_email_registered.txt"
        subject = "You have a Prism account already"
        context = {
            "user": existing,
            "sign_in": request.build_absolute_uri(reverse("login")),
            "reset": request.build_absolute_uri(reverse("password_reset")),
        }
    context["host"] = request.get_host()
    context["hours"] = round(settings.PRISM_SIGNUP_LINK_MAX_AGE.total_seconds() / 3600)
    send_mail(subject, render_to_string(template, context), None, [email])
