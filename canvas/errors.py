from __future__ import annotations


class ApiError(Exception):
    """An error a client can act on; rendered as {"error": {"code", "message"}} with `status`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(what: str = "object") -> ApiError:
    return ApiError(404, "not_found", f"No such {what}.")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def invalid(message: str) -> ApiError:
    return ApiError(400, "invalid", message)


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}
