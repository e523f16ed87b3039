from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from canvas import views
from canvas.api import api

urlpatterns = [
    path("", views.canvas_list, name="canvas-list"),
    path("healthz", views.healthz, name="healthz"),
    path("canvases/new", views.canvas_create, name="canvas-create"),
    path("canvases/<uuid:canvas_id>/", views.canvas_detail, name="canvas-detail"),
    path("canvases/<uuid:canvas_id>/prompts", views.prompt_create, name="prompt-create"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
