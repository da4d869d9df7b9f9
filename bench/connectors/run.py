"""bench/connectors: how fast the Microsoft connector drains a backlog from the local stand-in, and what it spends.

Setup (issue 19): the stand-in serves N Entra ID sign-ins (Graph, pages of 1,000 as Graph allows for signIns)
and N unified audit records (Management API, blobs of 1,000 as Microsoft packs them), shaped like the
simulator's records. The connector reads one round of both streams into Garrison's write-ahead log, fsynced
as ``garrison serve`` does (acknowledged means on disk), token and subscription included.
Baseline in the same run: fetching the same pages with a bare HTTP client and parsing them, nothing else.

    python bench/connectors/run.py [--records 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402

from garrison.config import load_config  # noqa: E402
from garrison.sources.microsoft import MicrosoftConnector  # noqa: E402
from garrison.store.wal import Wal, encode_record  # noqa: E402
from garrison.testing.microsoft import StandIn, serve  # noqa: E402


def records(n: int) -> tuple[list[dict], list[dict]]:
    now = time.time() - 3600
    signins, audit = [], []
    for i in range(n):
        t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + i * 3600 / n))
        signins.append({"id": str(uuid.uuid4()), "createdDateTime": t, "userPrincipalName": f"user{i % 5000}@council.example",
                        "ipAddress": f"81.2.{i % 250}.{i % 200}", "appDisplayName": "Office 365 Exchange Online",
                        "clientAppUsed": "Browser", "status": {"errorCode": 0 if i % 9 else 50126},
                        "location": {"countryOrRegion": "GB", "city": "Exeter"}, "conditionalAccessStatus": "success"})
        audit.append({"CreationTime": t[:-1], "Id": str(uuid.uuid4()), "Operation": "FileAccessed", "RecordType": 6,
                      "Workload": "SharePoint", "UserId": f"user{i % 5000}@council.example", "ClientIP": "81.2.69.161",
                      "ResultStatus": "Succeeded", "ObjectId": f"https://council.sharepoint.com/sites/p/doc{i}.docx"})
    return signins, audit


async def baseline(s: StandIn, ca: Path) -> float:
    """The same pages fetched and parsed, nothing more (one token asked for by hand)."""
    import ssl

    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca))) as c:
        tok = (await c.post(f"{s.base}/{s.tenant}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": s.client_id, "client_secret": s.secret,
            "scope": f"{s.base}/.default"})).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        t0 = time.perf_counter()
        n = 0
        url: str | None = f"{s.base}/v1.0/auditLogs/signIns?$top=1000"
        while url:
            body = orjson.loads((await c.get(url, headers=h)).content)
            n += len(body["value"])
            url = body.get("@odata.nextLink")
        for b in s.blobs:
            n += len(orjson.loads((await c.get(f"{s.base}/api/v1.0/{s.tenant}/activity/feed/audit/{b.content_id}",
                                              headers=h)).content))
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=50_000, help="of each stream")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        s = StandIn(page_size=1000, listing_page=200)
        server, ca = serve(s, work / "tls")
        signins, audit = records(a.records)
        s.add_signins(signins)
        s.add_unified_audit(audit, per_blob=1000, created_us=int((time.time() - 60) * 1e6))
        cfg_path = work / "g.yaml"
        cfg_path.write_bytes(orjson.dumps({"data_dir": str(work / "data"), "microsoft": s.connector_config(
            work / "secret", ca, page_size=1000, content_types=["Audit.SharePoint"], graph=["signIns"],
            requests_per_minute=6000)}))
        cfg = load_config(cfg_path)
        wal = Wal(cfg.data_path / "wal")

        def durable(recs):  # as garrison serve's durable sink
            return wal.append([encode_record(r) for r in recs], sync=True)

        async def run() -> MicrosoftConnector:
            conn = MicrosoftConnector(cfg, durable)
            await conn.start()
            conn._task.cancel()
            for st in conn.streams:
                await conn.read_stream(st)
            await conn.close()
            return conn

        t0 = time.perf_counter()
        conn = asyncio.run(run())
        wall = time.perf_counter() - t0
        got = sum(st.status.records for st in conn.streams)
        base = asyncio.run(baseline(s, ca))
        c = conn.api.counters if conn.api else None
        server.should_exit = True
    print(f"backlog: {a.records:,} sign-ins (Graph) + {a.records:,} unified audit records (Management API)")
    print(f"{'baseline: bare HTTP fetch + JSON parse':44} {base:>10,.0f} records/s")
    print(f"{'connector into the fsynced WAL (start incl.)':44} {got / wall:>10,.0f} records/s  ({got:,} in {wall:.1f}s)")
    if c:
        print(f"requests: {c.requests:,} ({c.requests * 10_000 / max(got, 1):.1f} per 10,000 records), "
              f"tokens asked for: {c.token_requests}, throttled: {c.throttled}")


if __name__ == "__main__":
    main()
