"""Log set-up for the server: plain lines for a person, or one JSON object per line.

Modules log ids, counts and lengths, never customer text or contact details; the JSON form
adds the time, level and logger so a log pipeline can index them without parsing prose.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "[redacted]"
# Path segments that are secrets: the chat's session key follows /v1/conversations/.
_SECRET_AFTER = re.compile(r"(/v1/conversations/)[^/?#]+")
# Any other segment that looks like a generated token (long, letters and digits mixed, as
# secrets.token_urlsafe makes them); hex digests (evidence ids) and words stay readable.
_TOKEN_LIKE = re.compile(r"(?<=/)(?=[A-Za-z0-9_\-]*[A-Za-z])(?=[A-Za-z0-9_\-]*\d)"
                         r"(?![0-9a-f]+(?:/|$))[A-Za-z0-9_\-]{24,}(?=/|$)")


def scrub_path(path: str) -> str:
    """A request target fit for a log: secret path segments and every query value replaced.

    Query values are customer text (a search), tokens or ids a log has no use for; the
    parameter names stay, so a line still says which parameters were sent.
    """
    target, _, query = path.partition("?")
    target = _TOKEN_LIKE.sub(REDACTED, _SECRET_AFTER.sub(rf"\g<1>{REDACTED}", target))
    if not query:
        return target
    names = [name for name, _ in parse_qsl(query, keep_blank_values=True)]
    return f"{target}?{urlencode([(name, REDACTED) for name in names], safe='[]')}"


class ScrubRequestTargets(logging.Filter):
    """uvicorn's access lines (``GET /path?query``) and WebSocket lines carry the raw request
    target: its paths and query strings are scrubbed before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn") and isinstance(record.args, tuple):
            record.args = tuple(scrub_path(arg) if isinstance(arg, str) and arg.startswith("/")
                                else arg for arg in record.args)
        return True


def configure_logging(style: Literal["text", "json"] = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if style == "json":
        handler.setFormatter(JsonFormatter(
            # pid: which process of `csba serve --workers N` (or of a host) wrote the line.
            "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                           "process": "pid"},
            timestamp=False))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ScrubRequestTargets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiosmtpd logs each envelope's sender and recipients at INFO: contact details stay out.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # uvicorn's own loggers propagate to ours, so access and error lines share the format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
