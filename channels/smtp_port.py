"""The inbound SMTP port of several server processes on one host: one of them listens.

Only one process binds the port. SO_REUSEPORT would let every worker listen, but aiosmtpd's
controller confirms its own start by connecting to the port, and with several listeners that
connection may reach a sibling's, so the start would fail for want of its own greeting. So
every worker tries: the one that binds the port listens, the others try again every few
seconds, and when the listening worker dies a sibling takes the port at its next try, well
before the dead worker's replacement has loaded its models. Mail sent while no one listens is
refused a connection, which a sending server retries (SMTP is store and forward).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from channels.email_in import InboundSmtpServer

log = logging.getLogger(__name__)


def port_is_taken(host: str, port: int) -> bool:
    """Whether another socket listens on ``host:port`` (binding it fails as in use)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    with socket.socket(family, kind, proto) as probe:
        # As the SMTP server binds: a port left in TIME_WAIT by a dead listener is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


class SharedSmtpPort:
    """Holds the SMTP port for this worker when it is free; ``hold`` keeps trying."""

    def __init__(self, make_server: Callable[[], InboundSmtpServer], *, host: str, port: int,
                 retry_seconds: float) -> None:
        self.make_server = make_server
        self.host, self.port = host, port
        self.retry_seconds = retry_seconds
        self.server: InboundSmtpServer | None = None

    def try_start(self) -> bool:
        """Listen when the port is free; False when a sibling holds it (or took it first)."""
        if self.server is not None:
            return True
        if port_is_taken(self.host, self.port):
            return False
        server = self.make_server()
        try:
            server.start()
        except OSError as exc:  # a sibling bound it between the probe and the start
            if exc.errno != errno.EADDRINUSE:
                raise
            with contextlib.suppress(Exception):
                server.stop()
            return False
        self.server = server
        return True

    async def hold(self) -> None:
        """Try until this worker listens (a task: cancelled when the worker stops)."""
        waiting_said = False
        while True:
            try:
                if await run_in_threadpool(self.try_start):
                    return
            except Exception:  # noqa: BLE001 - keep trying: the port may come free
                log.exception("inbound SMTP server could not start; trying again")
            if not waiting_said:
                log.info("inbound SMTP port %d is held by another worker; this one takes it "
                         "when it comes free", self.port)
                waiting_said = True
            await asyncio.sleep(self.retry_seconds)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
