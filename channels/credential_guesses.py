"""Failed credential attempts throttled per client address.

A request that presents a credential (an ``Authorization`` header: the operator, seller and
mail-webhook tokens; or the portal's sign-in form) and is answered 401 or 403 counts as one
guess of its client address. Past the limit, such requests are answered 429 with
``Retry-After`` before any token is compared, until the window lets the address guess again.
Counts live where the sender limit's do: in Redis when ``CSBA_REDIS_URL`` is set, shared by
every worker and host, else per server process.
"""

from __future__ import annotations

import logging
import math
import time

from limits.storage import Storage
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.rate_limit import SharedWindows, parse_limits

log = logging.getLogger(__name__)

SIGN_IN_PATH = "/seller/login"
RULE = "credential_guesses"


class CredentialGuesses:
    """How many wrong credentials each client address has presented, in ``limits``' windows."""

    def __init__(self, limits: str, storage: Storage | None = None) -> None:
        """``storage``: shared counts (``limit_storage``), so a guesser cannot spread
        guesses over workers or hosts; this process's memory by default."""
        self.items = parse_limits(limits, "credential guess limit", "10/minute;100/hour")
        self.limiter = SharedWindows(storage, RULE)

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may guess again; None when it may now."""
        waits = []
        for item in self.items:
            if not self.limiter.test(item, client):
                reset_at = self.limiter.reset_time(item, client)
                waits.append(max(1, math.ceil(reset_at - time.time())))
        return max(waits) if waits else None

    def failed(self, client: str) -> None:
        for item in self.items:
            self.limiter.hit(item, client)


def presents_credential(scope: Scope) -> bool:
    if scope["method"] == "POST" and scope["path"] == SIGN_IN_PATH:
        return True
    return "authorization" in Headers(scope=scope)


class CredentialThrottle:
    """ASGI middleware counting refused credentials and answering 429 past the limit."""

    def __init__(self, app: ASGIApp, guesses: CredentialGuesses) -> None:
        self.app = app
        self.guesses = guesses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not presents_credential(scope):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.guesses.retry_after(client)
        if wait is not None:
            log.warning("credential guesses: %s refused for %d s on %s", client, wait,
                        scope["path"])
            response = JSONResponse(
                {"detail": {"rule": RULE, "message": "too many wrong credentials from this "
                                                     f"address; retry after {wait} seconds"}},
                status_code=429, headers={"Retry-After": str(wait)})
            await response(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                self.guesses.failed(client)
            await send(message)

        await self.app(scope, receive, counting)
