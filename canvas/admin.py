from __future__ import annotations

from django.contrib import admin

from canvas.models import Canvas, Membership, Node, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "personal", "created_at")
    inlines = [MembershipInline]


@admin.register(Canvas)
class CanvasAdmin(admin.ModelAdmin):
    list_display = ("title", "team", "created_at", "updated_at")


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("id", "canvas", "kind", "model", "status", "created_at")
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in Node._meta.fields]
