"""The error answers every route shares, written into the OpenAPI schema in one place.

Some answers come from the framework, from shared dependencies, from the app's error
handlers or its middleware rather than from a route's own code, so no route lists them: a
bearer token that is missing or wrong (401), too many of them from one address (429), a JSON
body that does not parse or holds text no store can keep (400), a body over the route's limit
(413), a path naming something that does not exist (404), the 422 of a rule refusal
(``{"detail": {"rule", "message"}}``) or a plain message beside FastAPI's validation list, and
the 503 of a database that is unavailable (with its ``Retry-After`` header). A client (or a
schema-driven fuzzer) reading the schema must find every status the service answers with, and
a body that matches what it says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from channels.unavailable import RETRY_AFTER_HEADER

_DETAIL_MESSAGE = {"type": "object", "required": ["detail"],
                   "properties": {"detail": {"type": "string"}}}
_REFUSAL = {"type": "object", "required": ["detail"], "properties": {"detail": {
    "type": "object", "required": ["rule", "message"],
    "properties": {"rule": {"type": "string"}, "message": {"type": "string"}}}}}
# What an error body of this service is: a message, a rule refusal or a validation list.
_ERROR_BODY = {"anyOf": [
    _DETAIL_MESSAGE, _REFUSAL, {"$ref": "#/components/schemas/HTTPValidationError"}]}
_JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ERROR_BODY}}}


def _document(schema: dict[str, Any]) -> dict[str, Any]:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if operation.get("security"):
                responses.setdefault("401", _error("the bearer token is missing or invalid"))
            body = operation.get("requestBody", {}).get("content", {})
            if _JSON in body:
                responses.setdefault("400", _error("the JSON body does not parse"))
            if {"multipart/form-data", "application/x-www-form-urlencoded"} & set(body):
                responses.setdefault("400", _error("the form body does not parse"))
            if body:  # channels.request_bodies, before the route reads a byte
                responses.setdefault("413", _error("the body is larger than this route's limit"))
            if operation.get("security") or {"401", "403"} & set(responses):
                # channels.credential_guesses: an address past its wrong tokens waits.
                throttled = responses.setdefault("429", _error(
                    "too many wrong credentials from this address; retry after Retry-After "
                    "seconds"))
                throttled.setdefault("headers", {"Retry-After": RETRY_AFTER_HEADER})
            if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                responses.setdefault("404", _error("nothing of that id (for this caller)"))
            if "422" in responses:
                # FastAPI documents its validation list only; refusals name a rule instead.
                responses["422"] = _error(responses["422"].get("description")
                                          or "the request is refused")
            # Any route answers 503 while the database is unavailable (channels.unavailable).
            unavailable = responses.setdefault("503", _error(
                "the database is unavailable right now; try again after Retry-After seconds"))
            unavailable.setdefault("content", _error("")["content"])
            unavailable.setdefault("headers", {"Retry-After": RETRY_AFTER_HEADER})
            for status, response in responses.items():
                # A 4xx documented by description alone gets the shared error body.
                if status.startswith("4") and "content" not in response:
                    response["content"] = _error("")["content"]
    schema.setdefault("components", {}).setdefault("schemas", {}).setdefault(
        "HTTPValidationError", _VALIDATION_ERROR)
    schema["components"]["schemas"].setdefault("ValidationError", _VALIDATION_ITEM)
    return schema


_VALIDATION_ITEM = {"type": "object", "required": ["loc", "msg", "type"], "properties": {
    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
    "msg": {"type": "string"}, "type": {"type": "string"}}}
_VALIDATION_ERROR = {"type": "object", "properties": {
    "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}}}


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the shared error answers of every operation."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
