from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email


class Command(BaseCommand):
    help = (
        "Create the administrator named by PRISM_ADMIN_USERNAME (with PRISM_ADMIN_PASSWORD or "
        "PRISM_ADMIN_PASSWORD_FILE, and PRISM_ADMIN_EMAIL) if there is no such user yet. Safe to run at "
        "every start: an existing user is left as it is."
    )

    def handle(self, *args, **options) -> None:
        username = settings.PRISM_ADMIN_USERNAME
        if not username:
            self.stdout.write("PRISM_ADMIN_USERNAME is not set: no administrator to create.")
            return
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            # Never promoted here: whoever took the name first (a sign-up) must not become an admin by it.
            if not existing.is_superuser:
                self.stderr.write(f"The user {username!r} exists and is not an administrator; left as it is.")
            else:
                self.stdout.write(f"The administrator {username!r} exists.")
            return
        user = User(username=username, email=settings.PRISM_ADMIN_EMAIL)
        password = settings.PRISM_ADMIN_PASSWORD
        if not password:
            raise CommandError("Set PRISM_ADMIN_PASSWORD (or PRISM_ADMIN_PASSWORD_FILE) to create the administrator.")
        try:
            if user.email:
                validate_email(user.email)
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError(f"The administrator {username!r} was not created: {' '.join(exc.messages)}") from exc
        User.objects.create_superuser(username=username, email=user.email, password=password)
        self.stdout.write(f"Created the administrator {username!r}.")
