"""Saved model sets ("presets"), a person's own or a team's (mounted into canvas.api). Access through
canvas.access; each entry is checked as a prompt's `models` entry is."""

from __future__ import annotations

from ninja import Field, Router, Schema, Status

from canvas import access, services
from canvas.models import Preset
from canvas.schemas import ErrorEnvelope, ModelEntry

router = Router()


class PresetIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    models: list[ModelEntry] = Field(
        ..., min_length=1, description="As a prompt's `models`: ids or models with settings."
    )
    team: str | None = Field(None, description="A team's preset, seen by its members; none: your own.")


class PresetOut(Schema):
    id: str
    name: str
    team: str | None
    owner: str
    models: list[dict]
    created_at: str


def preset_payload(preset: Preset) -> dict:
    return {
        "id": str(preset.id),
        "name": preset.name,
        "team": str(preset.team_id) if preset.team_id else None,
        "owner": access.display_name(preset.owner),
        "models": preset.entries,
        "created_at": preset.created_at.isoformat(),
    }


def answers(ok: dict, *codes: int) -> dict:
    return ok | dict.fromkeys((401, *codes), ErrorEnvelope)


@router.get("/presets", response=answers({200: list[PresetOut]}), tags=["presets"])
def list_presets(request):
    """Your own presets and those of your teams."""
    return [preset_payload(p) for p in access.visible_presets(request.user).select_related("owner")]


@router.post("/presets", response=answers({201: PresetOut}, 400, 403, 404), tags=["presets"])
def create_preset(request, body: PresetIn):
    """Save a set of models with their settings; a team's preset takes an editor or owner of the team."""
    team = access.team_for_new_preset(request.user, body.team)
    models, params = services.usable_entries(body.models)
    entries = [{"model": str(m.id), **asked} for m, asked in zip(models, params, strict=True)]
    preset = Preset.objects.create(name=body.name.strip() or "Preset", owner=request.user, team=team, entries=entries)
    return Status(201, preset_payload(preset))


@router.delete("/presets/{preset_id}", response=answers({204: None}, 403, 404), tags=["presets"])
def delete_preset(request, preset_id: str):
    access.preset_for(request.user, preset_id, delete=True).delete()
    return Status(204, None)
