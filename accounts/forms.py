from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm


class SignupEmailForm(forms.Form):
    """Sign-up's first step: only the address, which a mailed link then proves."""

    email = forms.EmailField(help_text="We will mail you a link to finish; the address is never shown to other people.")


class SignupForm(UserCreationForm):
    """Sign-up's last step, from the mailed link: the address is proven, so a name taken already may be said."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=True, help_text="What the token is for, e.g. “laptop script”.")
