from __future__ import annotations

from django.contrib import admin

from accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("hint", "user", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("hint", "digest", "created_at", "last_used_at")
    exclude = ()

    def has_add_permission(self, request) -> bool:
        return False
