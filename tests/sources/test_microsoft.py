"""Issue 19: the Microsoft connectors against the local stand-in, fed with the simulator's real record shapes."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from garrison.config import load_config
from garrison.model.event import CHECKPOINT
from garrison.pipeline.runner import build_live_pipeline, run_batch
from garrison.simulate.generate import simulate
from garrison.sources.microsoft import MicrosoftConnector
from garrison.store import EventStore, open_state
from garrison.testing.microsoft import StandIn, serve


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    sim = simulate(out / "logs", days=1, seed=4, staff=600, scale=0.3)
    folder = sim.out / sim.days[0]
    signins = [orjson.loads(x) for x in (folder / "entra-signin.json").read_bytes().splitlines() if x.strip()]
    m365 = [orjson.loads(x) for x in (folder / "m365-audit.json").read_bytes().splitlines() if x.strip()]
    return signins, m365


@pytest.fixture
def standin(tmp_path):
    s = StandIn()
    server, ca = serve(s, tmp_path / "tls")
    yield s, ca
    server.should_exit = True


def config(tmp_path, s: StandIn, ca, **extra):
    m = s.connector_config(tmp_path / "secret", ca, page_size=100, content_types=["Audit.Exchange", "Audit.SharePoint"],
                           graph=["signIns", "directoryAudits"], first_hours=72) | extra
    p = tmp_path / "garrison.yaml"
    p.write_bytes(orjson.dumps({"data_dir": str(tmp_path / "data"), "microsoft": m}))
    return load_config(p)


def feed(s: StandIn, signins, m365):
    s.add_signins(signins)
    import time

    for i in range(0, len(m365), 50):  # one content blob per 50 records, made available seconds ago
        s.add_content("Audit.SharePoint", m365[i:i + 50], int((time.time() - 5) * 1e6))


class Sink:
    def __init__(self):
        self.appends: list[list] = []

    def __call__(self, recs):
        self.appends.append(list(recs))

    def records(self):
        return [r for a in self.appends for r in a if r.format != CHECKPOINT]


async def one_round(conn: MicrosoftConnector) -> None:
    await conn.start()
    conn._task.cancel()  # drive the rounds by hand
    for st in conn.streams:
        await conn.read_stream(st)
    await conn.close()


def test_every_record_arrives_once_with_paging(tmp_path, standin, day):
    s, ca = standin
    signins, m365 = day
    feed(s, signins, m365)
    cfg = config(tmp_path, s, ca)
    sink = Sink()
    conn = MicrosoftConnector(cfg, sink)
    asyncio.run(one_round(conn))
    got = sink.records()
    by = {}
    for r in got:
        by.setdefault(r.meta["stream"], set()).add(r.meta["record_id"])
    assert len(by["graph/signIns"]) == len(signins) > 100  # more than one page of 100
    assert len(by["office365/Audit.SharePoint"]) == len(m365)
    assert len(got) == len(signins) + len(m365)
    assert {"Audit.Exchange", "Audit.SharePoint"} <= s.subscriptions
    cps = [r for a in sink.appends for r in a if r.format == CHECKPOINT]
    assert {c.meta["stream"] for c in cps} == {st.name for st in conn.streams}
    assert all(st.status.last_error is None for st in conn.streams)


def test_throttling_slows_it_but_loses_nothing(tmp_path, standin, day):
    s, ca = standin
    signins, m365 = day
    feed(s, signins, m365)
    s.throttle_every, s.retry_after = 3, 0
    sink = Sink()
    conn = MicrosoftConnector(config(tmp_path, s, ca), sink)
    asyncio.run(one_round(conn))
    assert s.throttled > 0 and conn.api.counters.throttled == s.throttled
    assert len({(r.meta["stream"], r.meta["record_id"]) for r in sink.records()}) == len(signins) + len(m365)


def test_an_expired_token_is_replaced(tmp_path, standin, day):
    s, ca = standin
    signins, _ = day
    s.add_signins(signins)
    sink = Sink()
    conn = MicrosoftConnector(config(tmp_path, s, ca, content_types=[]), sink)

    async def run():
        await conn.start()
        conn._task.cancel()
        await conn.read_stream(conn.streams[0])
        s.expire_tokens()  # revoked before its expiry: MSAL's cache still holds it
        await conn.read_stream(conn.streams[0])
        await conn.close()

    asyncio.run(run())
    assert conn.streams[0].status.last_error is None
    assert s.token_requests >= 2


def test_a_refused_secret_is_an_error_the_analyst_sees(tmp_path, standin, caplog):
    s, ca = standin
    s.secret_expired = True
    conn = MicrosoftConnector(config(tmp_path, s, ca, content_types=[]), Sink())
    with caplog.at_level(logging.DEBUG):
        asyncio.run(one_round(conn))
    err = conn.streams[0].status.last_error
    assert "AADSTS7000222" in err and "renew" in err
    assert any("AADSTS7000222" in p for p in conn.view()["problems"])  # /healthz says failing
    assert s.secret not in caplog.text  # secrets stay out of logs


def test_stored_exactly_once_across_a_crash(tmp_path, standin, day):
    """A page stored, the process dies before the next round; the overlap re-read and a page fetched twice
    are dropped as duplicates, and the checkpoint is saved in the same commit as the records."""
    s, ca = standin
    signins, m365 = day
    feed(s, signins, m365)
    cfg = config(tmp_path, s, ca)
    engine = open_state(cfg.data_path)
    store = EventStore(cfg.data_path, engine)
    pipeline = build_live_pipeline(cfg, engine)
    sink = Sink()
    asyncio.run(one_round(MicrosoftConnector(cfg, sink)))
    first = [r for a in sink.appends for r in a]
    run_batch(pipeline, store, first[: len(first) // 2])  # half stored, then the crash
    run_batch(pipeline, store, first)  # the WAL replayed whole: the first half again
    sink2 = Sink()
    asyncio.run(one_round(MicrosoftConnector(cfg, sink2)))  # restarted: its checkpoint and the overlap
    run_batch(pipeline, store, [r for a in sink2.appends for r in a])
    from garrison.store.search import iter_events

    ids = [e["garrison.record_id"] for e in iter_events(store, 0, 2**62)]
    assert len(ids) == len(set(ids)) == len(signins) + len(m365)
    assert pipeline.stages[0].duplicates >= len(first) // 2 - 10  # the replayed half, counted
    from garrison.store.once import checkpoints

    assert set(checkpoints(engine)) == {"graph/signIns", "graph/directoryAudits", "office365/Audit.Exchange",
                                        "office365/Audit.SharePoint"}


def test_a_certificate_instead_of_a_secret(tmp_path, standin, day):
    """Client credentials by certificate (MSAL signs an assertion); a certificate Entra ID doesn't know is refused."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def pem(cn: str) -> tuple[str, str]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = dt.datetime.now(dt.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
        k = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        return k.decode() + cert.public_bytes(serialization.Encoding.PEM).decode(), cert.public_bytes(serialization.Encoding.PEM).decode()

    s, ca = standin
    s.add_signins(day[0])
    both, cert = pem("garrison")
    s.certificate = cert
    f = tmp_path / "app.pem"
    f.write_text(both)
    sink = Sink()
    conn = MicrosoftConnector(config(tmp_path, s, ca, content_types=[], graph=["signIns"], client_secret_file=None,
                                     certificate_file=str(f)), sink)
    asyncio.run(one_round(conn))
    assert conn.streams[0].status.last_error is None and len(sink.records()) == len(day[0])
    other, _ = pem("someone else")
    f.write_text(other)
    conn = MicrosoftConnector(config(tmp_path, s, ca, content_types=[], graph=["signIns"], client_secret_file=None,
                                     certificate_file=str(f)), Sink())
    asyncio.run(one_round(conn))
    assert "AADSTS700027" in conn.streams[0].status.last_error
