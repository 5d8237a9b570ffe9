import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.audit.service import record_audit
from tests.factories import make_user


def test_audit_entries_record_who_what_when_and_which_object(db):
    user = make_user(email="someone@example.com")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.created"))
    assert (entry.actor, entry.object_type, entry.object_id) == ("test", "users", str(user.id))
    assert entry.details == {"role": "customer"} and entry.at.tzinfo is not None


def test_audit_entries_cannot_be_changed_or_deleted(db):
    entry = record_audit("settings.changed", actor="user:1", field="business_name")
    db.session.commit()
    entry.action = "something.else"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, entry.id))
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, entry.id).action == "settings.changed"


def test_audit_entry_rolls_back_with_the_change_it_describes(db):
    record_audit("invoice.voided", actor="user:1", object_type="invoices", object_id=7)
    db.session.rollback()
    assert db.session.scalar(select(AuditEntry)) is None
