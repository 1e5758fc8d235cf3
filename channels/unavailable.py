"""A database that cannot be reached, or stays busy past its wait, answers 503, not 500.

Every HTTP route reads or writes the database; when it is down (PostgreSQL refuses or drops
connections, the pool has none to give within its timeout, SQLite's file cannot be opened or
its write lock is not granted in time) the request failed for a reason the client can wait
out. It gets a 503 with a message saying so and a ``Retry-After`` header, whatever the route.
Errors of the request itself (a constraint it breaks, SQL that does not run) stay 500s.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)

# Connection refused, lost or not granted in time (OperationalError, InterfaceError), a pool
# with no connection free within its timeout, a pooled connection found dead.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError, InterfaceError, PoolTimeout, DisconnectionError)
RETRY_AFTER_SECONDS = 5
RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}
DETAIL = (f"the service's database is unavailable right now; try again in "
          f"{RETRY_AFTER_SECONDS} seconds")

# The 503 as the OpenAPI schema documents it on every operation.
RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 0}}


def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The route's template, not the path: a chat's path holds its session key.
    route = getattr(request.scope.get("route"), "path", "-")
    cause = getattr(exc, "orig", None) or exc
    log.error("database unavailable on %s %s: %s: %s", request.method, route,
              type(cause).__name__, str(cause).splitlines()[0] if str(cause) else "-")
    return JSONResponse({"detail": DETAIL}, status_code=503, headers=RETRY_AFTER)


def answer_503_when_the_database_is_unavailable(app: FastAPI) -> None:
    for error in DATABASE_UNAVAILABLE:
        app.add_exception_handler(error, database_unavailable)
