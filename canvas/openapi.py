"""The API's OpenAPI document, with the errors every operation can answer declared on each of them.

Each operation declares its own particular errors (402 budget, 409 conflicts, …). The ones that follow
from its shape alone are added here, so that no operation's document can forget them: 401 for every
operation (all need a session or a token), 400 and 413 for one that reads a body, 400 for one that
reads query parameters, 404 for one that names objects by id (in its path or its body)."""

from __future__ import annotations

from http import HTTPStatus

from ninja import NinjaAPI

from canvas.schemas import ErrorEnvelope

# Operations already declare errors with this schema (canvas.api.errors), so the document holds it.
ERROR_REF = {"$ref": f"#/components/schemas/{ErrorEnvelope.__name__}"}


class PrismAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs):
        document = super().get_openapi_schema(**kwargs)
        for operations in document["paths"].values():
            for operation in operations.values():
                _declare_errors(operation)
        return document


def _declare_errors(operation: dict) -> None:
    where = {parameter["in"] for parameter in operation.get("parameters", ())}
    body = "requestBody" in operation
    codes = [401]
    if body or "query" in where:
        codes.append(400)
    if body or "path" in where:
        codes.append(404)
    if body:
        codes.append(413)
    responses = operation["responses"]
    for code in codes:
        responses.setdefault(
            code,
            {"description": HTTPStatus(code).phrase, "content": {"application/json": {"schema": ERROR_REF}}},
        )
