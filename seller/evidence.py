"""Photos a seller attaches to a claim: bounded in number, size and type, kept in the data dir.

A file is accepted by what its bytes are (JPEG, PNG, WebP), never by the name or the type
the client claims, and stored under its SHA-256, so no uploaded name reaches the file system.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 5 * 1024 * 1024
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


class EvidenceError(ValueError):
    """An upload that is refused; ``rule`` names the limit and ``status`` the HTTP answer."""

    def __init__(self, rule: str, message: str, status: int,
                 values: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.rule, self.status = rule, status
        # The message's figures, for a page that says the refusal in the seller's language.
        self.values: Mapping[str, object] = values or {}


@dataclass(frozen=True, slots=True)
class Photo:
    content: bytes
    content_type: str
    extension: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def describe(self) -> dict[str, str | int]:
        return {"sha256": self.sha256, "content_type": self.content_type,
                "bytes": len(self.content)}


def sniff(content: bytes) -> tuple[str, str] | None:
    """The image type the bytes are, as (content type, extension)."""
    for magic, content_type, extension in _SIGNATURES:
        if content.startswith(magic):
            return content_type, extension
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def accept_photo(content: bytes, *, position: int) -> Photo:
    """A photo within the limits, or ``EvidenceError`` naming the limit it broke."""
    if len(content) > MAX_PHOTO_BYTES:
        raise EvidenceError("evidence.too_large",
                            f"photo {position} is larger than {MAX_PHOTO_BYTES} bytes", 413,
                            values={"position": position, "max": MAX_PHOTO_BYTES})
    if not content:
        raise EvidenceError("evidence.empty", f"photo {position} is empty", 422,
                            values={"position": position})
    kind = sniff(content)
    if kind is None:
        raise EvidenceError("evidence.type",
                            f"photo {position} is not a JPEG, PNG or WebP image", 415,
                            values={"position": position})
    return Photo(content, *kind)


def check_count(count: int) -> None:
    if count > MAX_PHOTOS:
        raise EvidenceError("evidence.too_many", f"at most {MAX_PHOTOS} photos per claim, "
                                                 f"got {count}", 422,
                            values={"max": MAX_PHOTOS, "count": count})


def claim_folder(data_dir: Path, claim_id: str) -> Path:
    return data_dir / "claims" / claim_id


def store_photos(data_dir: Path, claim_id: str, photos: Sequence[Photo]) -> Path:
    folder = claim_folder(data_dir, claim_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for photo in photos:
        path = folder / f"{photo.sha256}{photo.extension}"
        path.write_bytes(photo.content)
        path.chmod(0o600)
    log.info("claim %s: %d photos stored", claim_id, len(photos))
    return folder


def remove_photos(data_dir: Path, claim_id: str) -> None:
    shutil.rmtree(claim_folder(data_dir, claim_id), ignore_errors=True)


def photo_path(data_dir: Path, claim_id: str, sha256: str, content_type: str) -> Path:
    extension = {ct: ext for _, ct, ext in _SIGNATURES} | {"image/webp": ".webp"}
    return claim_folder(data_dir, claim_id) / f"{sha256}{extension[content_type]}"
