"""Access by peer: once peers are listed with `axiom apply`, only a listed (AE title, host) may open an
association, and only to the called AE titles it is bound to; an empty list lets anyone in."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pynetdicom import AE

from axiom.admin.apply_config import apply_config, parse_config
from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from tests.support.dcmtk import free_port
from tests.support.listener import running_listener

pytestmark = pytest.mark.integration

CT = "1.2.840.10008.5.1.4.1.1.2"


def _associates(port: int, calling: str, called: str = "AXIOM", host: str = "127.0.0.1") -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context(CT)
    ae.acse_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title=called, bind_address=(host, 0))
    established = assoc.is_established
    if established:
        assoc.release()
    return established


def test_only_listed_peers_get_in(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(dicom_host="127.0.0.1", dicom_port=free_port(), spool_fsync=False)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    with running_listener(settings) as server:
        port = server.server_address[1]
        assert _associates(port, "ANYONE", host="127.0.0.5")  # no list yet: open, as documented

        engine = create_db_engine(settings.effective_database_url)
        with make_session_factory(engine)() as session:
            peers = [
                {"name": "ct1", "ae_title": "CT1", "host": "127.0.0.1", "called_ae_titles": ["AXIOM"]},
                {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.2"},
            ]
            result = apply_config(session, parse_config({"peers": peers}), actor="test")
            session.commit()
        engine.dispose()
        assert result.peers.created == ["ct1", "pacs"]

        assert _associates(port, "CT1")
        assert _associates(port, "PACS", called="ANYTHING", host="127.0.0.2")
        assert not _associates(port, "ANYONE", host="127.0.0.5")  # not listed
        assert not _associates(port, "CT1", host="127.0.0.3")  # listed AE from another host
        assert not _associates(port, "CT1", called="OTHER")  # bound to AXIOM only
