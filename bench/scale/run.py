"""bench/scale: events per second through HEC to stored and detected, embedded beside scaled out, in one run.

Each setup starts its nodes as processes (start-up included in "wall"), sends the same simulated council
day over HEC in time order, and waits until every acknowledged event is committed. Reported per setup:
events per second from the first request to the last commit, and CPU seconds per 1,000 events per role
(from /proc, so the 2-core machine's limit on the gain shows apart from the work each role does).

Then the store hunt: the same Sigma pack over the stored events with DuckDB and with Spark (local[2]),
process start and rule loading included.

    python bench/scale/run.py [--scale 4] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from garrison.simulate.demo import write_demo_logs  # noqa: E402
from garrison.store import open_state  # noqa: E402
from garrison.store import state as S  # noqa: E402
from garrison.testing.scale import as_live, deploy, hec_bodies, send  # noqa: E402
from garrison.testing.servers import start_nats, start_postgres  # noqa: E402

NOW = 1_780_000_000


def _stored(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return int(c.execute(select(func.coalesce(func.sum(S.commits.c.events), 0))).scalar() or 0)


def run(root: Path, bodies, state_url, bus_url, workers: int) -> dict:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    d = deploy(root, state_url, bus_url, workers, bus={"stream": root.name.upper(), "subject": f"b.{root.name}"}
               if bus_url else {})
    ready = time.perf_counter()
    try:
        engine = open_state(state_url or root / "data")
        cpu0 = {id(n): n.cpu_seconds() for n in d.nodes}
        t1 = time.perf_counter()
        acked = send(d.nodes[0].url, d.token, bodies)
        while _stored(engine) < len(acked):
            time.sleep(0.2)
        t2 = time.perf_counter()
        cpu: dict[str, float] = {}
        for n in d.nodes:
            cpu[n.role] = cpu.get(n.role, 0.0) + n.cpu_seconds() - cpu0[id(n)]
    finally:
        d.stop()
    return {"events": len(acked), "rate": len(acked) / (t2 - t1), "start": ready - t0, "wall": t2 - t0,
            "cpu_per_1000": {r: 1000 * s / len(acked) for r, s in cpu.items()}}


def hunt(data: Path, engine: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(data), "hunt", "--rules",
                    str(ROOT / "garrison/detect/rules"), "--engine", engine, "--since", "all", "--json"],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=4, help="simulated days' volume (about 21,000 events each)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    pg, nats = start_postgres(), start_nats()
    try:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            logs = write_demo_logs(root / "logs", seed=5, now=NOW, scale=a.scale)
            bodies = hec_bodies(as_live(logs, NOW * 1_000_000))
            print(f"{sum(len(x) for _, x in bodies):,} events over HEC in {len(bodies):,} requests of 500")
            results = {"embedded (baseline)": run(root / "embedded", bodies, None, None, 0)}
            for w in a.workers:
                results[f"bus, {w} worker{'s' if w > 1 else ''}"] = run(
                    root / f"w{w}", bodies, pg.create_database(f"w{w}"), nats.url, w)
            print(f"{'setup':<22}{'events/s':>10}{'start s':>9}{'wall s':>8}  CPU s per 1,000 events by role")
            for name, r in results.items():
                roles = ", ".join(f"{k} {v:.2f}" for k, v in r["cpu_per_1000"].items())
                print(f"{name:<22}{r['rate']:>10,.0f}{r['start']:>9.1f}{r['wall']:>8.1f}  {roles}")
            data = root / "embedded" / "data"
            print(f"store hunt over {results['embedded (baseline)']['events']:,} stored events, Garrison's pack, "
                  f"process start included: duckdb {hunt(data, 'duckdb'):.1f}s, spark local[2] {hunt(data, 'spark'):.1f}s")
    finally:
        pg.stop()
        nats.stop()


if __name__ == "__main__":
    main()
