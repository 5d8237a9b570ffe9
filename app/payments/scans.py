"""Scans of checks and receipts attached to manual payments: checked by content, stored only once the payment is."""

from __future__ import annotations

from dataclasses import dataclass

from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage

from app.uploads import JPEG, PDF, PNG, FileKind, UploadRejected, new_stored_name, recognise, save

ACCEPTED = (PDF, PNG, JPEG)


@dataclass(frozen=True)
class PendingScan:
    name: str
    kind: FileKind
    data: bytes


def read_scan(field: FileField) -> PendingScan | None:
    """The uploaded scan, or None when there is none; a rejected file sets the field's error and returns None."""
    storage = field.data
    if not isinstance(storage, FileStorage) or not storage.filename:
        return None
    data = storage.read()
    try:
        kind = recognise(data, ACCEPTED)
    except UploadRejected as exc:
        field.errors = [*field.errors, str(exc)]
        return None
    return PendingScan(name=new_stored_name("scan", kind), kind=kind, data=data)


def store(scan: PendingScan) -> None:
    save(scan.name, scan.data)
