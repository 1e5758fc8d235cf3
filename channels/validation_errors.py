"""FastAPI's 422 without the input: each error names the field and the rule, never the value.

FastAPI's own handler returns pydantic's errors whole, ``input`` (the entire body for a body
error) and ``ctx`` included, so a 50 MB body came back as a 50 MB answer and a customer's text
was echoed to whoever sent it. Only ``loc`` (the field), ``type`` (the rule) and ``msg`` are
kept: the shape the OpenAPI schema documents as ``HTTPValidationError``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

# pydantic's messages state the rule ("String should have at most 4000 characters"); those
# of a custom validator ("Value error, ...") may quote what was sent, so they are replaced.
_QUOTING_TYPES = frozenset({"value_error", "assertion_error"})


def without_input(errors: object) -> list[dict[str, object]]:
    """``loc``, ``msg`` and ``type`` of each of pydantic's errors, nothing that was sent."""
    out: list[dict[str, object]] = []
    for error in errors if isinstance(errors, list | tuple) else []:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        kind = str(error.get("type", "invalid"))
        message = ("Value is not valid for this field" if kind in _QUOTING_TYPES
                   else str(error.get("msg", "")))
        out.append({"loc": loc, "msg": message, "type": kind})
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": without_input(exc.errors())}, status_code=422)


def answer_validation_errors_without_input(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
