"""Files the operator uploads (payment scans, the logo): recognised by their content, stored under
instance/uploads with a random name, and read back only through admin routes (or, for the logo, one public route)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from flask import current_app
from PIL import Image


class UploadRejected(ValueError):
    """Not a file we accept; the message says what we accept."""


@dataclass(frozen=True)
class FileKind:
    name: str
    mimetype: str
    suffix: str


PDF = FileKind("pdf", "application/pdf", ".pdf")
PNG = FileKind("png", "image/png", ".png")
JPEG = FileKind("jpeg", "image/jpeg", ".jpg")
KINDS_BY_SUFFIX = {kind.suffix: kind for kind in (PDF, PNG, JPEG)}

#: the names we give stored files; anything else is never opened (no path tricks through a setting or a row)
_STORED_NAME = re.compile(r"^[a-z]+-[0-9a-f]{32}\.(pdf|png|jpg)$")


def recognise(data: bytes, allowed: tuple[FileKind, ...]) -> FileKind:
    """The kind of file `data` really is, whatever its name or declared type says. Images must also decode."""
    if not data:
        raise UploadRejected("the file is empty")
    kind = _sniff(data)
    if kind is None or kind not in allowed:
        names = ", ".join(k.name.upper() for k in allowed)
        raise UploadRejected(f"only {names} files are accepted; this file's content is not one of them")
    if kind in (PNG, JPEG):
        _check_image(data, kind)
    elif b"%%EOF" not in data[-2048:]:
        raise UploadRejected("this PDF is incomplete (no end-of-file marker); upload the whole file")
    return kind


def _sniff(data: bytes) -> FileKind | None:
    # Magic bytes: PDF "%PDF-", PNG's 8-byte signature, JPEG's SOI marker followed by a segment marker.
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    return None


def _check_image(data: bytes, kind: FileKind) -> None:
    try:
        with Image.open(BytesIO(data)) as image:
            fmt = image.format
            image.verify()
    except Exception as exc:  # Pillow raises many types for broken or hostile images (incl. decompression bombs)
        raise UploadRejected(f"this {kind.name.upper()} image cannot be read: {exc.__class__.__name__}") from exc
    if fmt != kind.name.upper():
        raise UploadRejected(f"this file claims to be {kind.name.upper()} but Pillow reads it as {fmt}")


def uploads_dir() -> Path:
    """instance/uploads, outside the static folder; UPLOADS_DIR in the app config moves it (tests use a temp dir)."""
    path = Path(current_app.config.get("UPLOADS_DIR") or Path(current_app.instance_path) / "uploads")
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_stored_name(prefix: str, kind: FileKind) -> str:
    return f"{prefix}-{secrets.token_hex(16)}{kind.suffix}"


def save(name: str, data: bytes) -> Path:
    path = stored_path(name)
    path.write_bytes(data)
    return path


def stored_path(name: str) -> Path:
    if not _STORED_NAME.match(name or ""):
        raise UploadRejected("not a stored upload name")
    return uploads_dir() / name


def kind_of_stored(name: str) -> FileKind:
    return KINDS_BY_SUFFIX[Path(name).suffix]
