"""Finding a person by what identifies her, on SQLite and on a real PostgreSQL server."""

from datetime import datetime

from sqlmodel import Session

from store import identities
from store.models import Contact, IdentityKind
from tests.support import TZ

PHONE = IdentityKind.PHONE


def test_who_holds_a_key_is_found_by_her_keys_and_by_what_wecom_told(engine):
    now = datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
    with Session(engine) as s:
        wecom = Contact(name="小雨", external_userid="wm-xiaoyu", phone="13800000001",
                        created_at=now, updated_at=now)  # fmt: skip
        partner = Contact(name="王芳", created_at=now, updated_at=now)
        s.add_all([wecom, partner])
        s.flush()
        hospital = identities.source_id("协和医院", "H-7")
        connection = s.connection()
        identities.claim(connection, [(partner.id, (PHONE, "13800000002")),
                                      (partner.id, hospital), (wecom.id, (PHONE, "13800000001"))],
                         now)  # fmt: skip
        asked = [(PHONE, "13800000001"), (PHONE, "13800000002"), hospital, (PHONE, "13800000009"),
                 (IdentityKind.EXTERNAL_USERID, "wm-xiaoyu")]  # fmt: skip
        assert identities.holders(connection, asked) == {
            (PHONE, "13800000001"): {wecom.id},  # her key and her column: one person
            (PHONE, "13800000002"): {partner.id},
            hospital: {partner.id},
            (IdentityKind.EXTERNAL_USERID, "wm-xiaoyu"): {wecom.id},
        }
        assert identities.find(connection, asked) == sorted([wecom.id, partner.id])
