from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from canvas import compare, leaderboard, servers, sharing, teams, views
from canvas.api import api
from usage import views as usage_views

urlpatterns = [
    path("", views.canvas_list, name="canvas-list"),
    path("healthz", views.healthz, name="healthz"),
    path("canvases/new", views.canvas_create, name="canvas-create"),
    path("canvases/<uuid:canvas_id>/", views.canvas_detail, name="canvas-detail"),
    path("canvases/<uuid:canvas_id>/rename", views.canvas_rename, name="canvas-rename"),
    path("canvases/<uuid:canvas_id>/delete", views.canvas_delete, name="canvas-delete"),
    path("canvases/<uuid:canvas_id>/restore", views.canvas_restore, name="canvas-restore"),
    path("canvases/<uuid:canvas_id>/duplicate", views.canvas_duplicate, name="canvas-duplicate"),
    path("canvases/<uuid:canvas_id>/compare/<uuid:prompt_id>/", compare.compare_prompt, name="canvas-compare"),
    path("accounts/usage/", usage_views.my_usage, name="my-usage"),
    path("accounts/", include("accounts.urls")),
    path("teams/", teams.team_list, name="team-list"),
    path("teams/<uuid:team_id>/", teams.team_detail, name="team-detail"),
    path("teams/<uuid:team_id>/invites", teams.invite_create, name="team-invite"),
    path("teams/<uuid:team_id>/invites/<uuid:invite_id>/revoke", teams.invite_revoke, name="team-invite-revoke"),
    path("teams/<uuid:team_id>/members/<uuid:member_id>/role", teams.member_role, name="team-member-role"),
    path("teams/<uuid:team_id>/members/<uuid:member_id>/remove", teams.member_remove, name="team-member-remove"),
    path("teams/<uuid:team_id>/leave", teams.team_leave, name="team-leave"),
    path("teams/<uuid:team_id>/usage/", usage_views.team_usage, name="team-usage"),
    path("teams/<uuid:team_id>/budget", usage_views.team_budget, name="team-budget"),
    path("teams/<uuid:team_id>/members/<uuid:member_id>/budget", usage_views.member_budget, name="team-member-budget"),
    path("teams/<uuid:team_id>/leaderboard/", leaderboard.team_leaderboard, name="team-leaderboard"),
    path("teams/join/<str:token>/", teams.team_join, name="team-join"),
    path("canvases/<uuid:canvas_id>/move", teams.canvas_move, name="canvas-move"),
    path("canvases/<uuid:canvas_id>/sharing/", sharing.sharing_page, name="canvas-sharing"),
    path("canvases/<uuid:canvas_id>/sharing/<uuid:link_id>/revoke", sharing.share_revoke, name="canvas-share-revoke"),
    path("s/<str:token>/", sharing.share_page, name="share-page"),
    path("servers/", servers.server_list, name="server-list"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
