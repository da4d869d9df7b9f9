"""Scale-out's correlations grouped by something other than the source address (issue 23).

A botnet guesses one account's password from many addresses: loghub's real OpenSSH failed-password lines, one per
attacking address (14 addresses, 7 on each worker's side), within three minutes against ``root``. The bus
partitions records by address, so neither worker alone sees the ten addresses that make it distributed brute force
(grouped by user). It must still fire once, as on one machine, because each worker hands such hits on to the owner
of the user's partition (``pipeline/handoff.py``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter

from sqlalchemy import func, select

from garrison.store import open_state
from garrison.store import state as S
from garrison.store import state_bus as B
from garrison.store.bus import partition_of
from garrison.testing.scale import deploy, hec_bodies, send
from tests.conftest import DATA

LOGHUB = DATA / "loghub" / "OpenSSH" / "OpenSSH_2k.log"
DISTRIBUTED = "9c1e7a52-5d3b-4d4e-9a7f-6a1f0b2c3d12"
_FAILED = re.compile(r"^(\w{3} +\d+ [\d:]{8}) (\S+ sshd\[\d+\]: Failed password for )(?:invalid user )?\S+( from ([\d.]+) port \d+ ssh2)$")


def _half(ip: str) -> int:
    """Which of the two workers owns the address's partition (8 partitions, dealt round-robin)."""
    return partition_of("default", b"", "", 8, f"source.ip={ip}".encode()) % 2


def _botnet() -> tuple[list[tuple[str, str]], list[str]]:
    """One real failed-password line per attacking address, retimed a dozen seconds apart, all for root: seven
    addresses on each worker's side, so neither alone sees the ten that make it distributed brute force."""
    lines, ips = [], []
    for line in LOGHUB.read_text().splitlines():
        m = _FAILED.match(line)
        if m and m.group(4) not in ips and sum(_half(x) == _half(m.group(4)) for x in ips) < 7:
            ips.append(m.group(4))
            t = time.gmtime(time.time() - 300 + 12 * len(ips))
            stamp = f"{time.strftime('%b', t)} {t.tm_mday:2d} {time.strftime('%H:%M:%S', t)}"
            lines.append((f"{stamp} {m.group(2)}root{m.group(3)}", "auth.log"))
    return lines, ips


def _wait(engine, n: int, timeout: float = 120) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with engine.connect() as c:
            if c.execute(select(func.coalesce(func.sum(S.commits.c.events), 0))).scalar() >= n:
                return
        time.sleep(0.5)


def _owners(engine) -> set[str]:
    with engine.connect() as c:
        return {r[0] for r in c.execute(select(B.bus_leases.c.owner).where(B.bus_leases.c.expires_at > time.time() * 1e6))}


def _detections(engine) -> Counter:
    with engine.connect() as c:
        return Counter((r.rule_id, r.user_name) for r in c.execute(
            select(S.detections.c.rule_id, S.detections.c.user_name).where(S.detections.c.kind == "correlation")))


def test_distributed_brute_force_across_workers(tmp_path, postgres, nats_server):
    lines, ips = _botnet()
    assert len(ips) == 14
    bodies = hec_bodies(lines, per_request=4)

    emb = deploy(tmp_path / "embedded", None, None, 0)
    try:
        send(emb.nodes[0].url, emb.token, bodies)
        emb_engine = open_state(tmp_path / "embedded" / "data")
        _wait(emb_engine, len(lines))
        time.sleep(2)
        reference = _detections(emb_engine)
    finally:
        emb.stop()
    assert reference[(DISTRIBUTED, "root")] == 1

    stream = f"H{uuid.uuid4().hex[:8]}"
    url = postgres.create_database(stream.lower())
    d = deploy(tmp_path / "scaled", url, nats_server.url, 2, bus={"stream": stream, "subject": f"g.{stream}"})
    try:
        engine = open_state(url)
        deadline = time.time() + 60
        while time.time() < deadline and len(_owners(engine)) < 2:  # both workers hold their half
            time.sleep(0.5)
        send(d.by_role("ingest")[0].url, d.token, bodies)
        _wait(engine, len(lines))
        deadline = time.time() + 60
        while time.time() < deadline and _detections(engine) != reference:
            time.sleep(0.5)
        scaled = _detections(engine)
        workers = _owners(engine)
        with engine.connect() as c:
            handed = c.execute(select(func.count()).select_from(B.bus_handoffs)).scalar()
    finally:
        d.stop()
    assert len(workers) == 2
    assert scaled == reference, (scaled, reference)
    assert handed >= len(ips)  # each hit went through the hand-off table to the user's owner
