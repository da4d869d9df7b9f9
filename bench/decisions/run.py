"""bench/decisions: the CrowdSec bouncer API under load, with 100,000 active decisions.

Prints, in one run, against a real `garrison serve` on loopback:
- lookups/s through GET /v1/decisions?ip= (half hits, half misses), by wrk with 32 connections
  (Debian's wrk; a Python client is used when it is missing, and measures itself as much as the server);
- the same server's GET /healthz rate: the ceiling of the HTTP stack, as the baseline;
- startup stream size and time (every active decision, as a bouncer gets on start);
- time from a ban (POST /api/v1/decisions) to its arrival in a bouncer's stream, polling every 100 ms.

    python bench/decisions/run.py [--decisions 100000] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from garrison.respond.bouncers import add_bouncer  # noqa: E402
from garrison.sources.tokens import create_token  # noqa: E402
from garrison.store import open_state  # noqa: E402
from garrison.testing import free_port, wait_ready  # noqa: E402
from garrison.store import state as S  # noqa: E402


def seed(data: Path, n: int) -> list[str]:
    engine = open_state(data)
    now = int(time.time() * 1e6)
    rng = random.Random(1)
    ips = list({f"{rng.randrange(11, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
                for _ in range(int(n * 1.1))})[:n]
    rows = [dict(type="ban", scope="ip", value=ip, origin="rule", reason="bench", created_at=now, until=now + 86_400_000_000,
                 updated_at=now, simulated=0, organization_id="default", offence=1) for ip in ips]
    with engine.begin() as c:
        for i in range(0, len(rows), 20_000):
            c.execute(insert(S.decisions), rows[i:i + 20_000])
    return ips


async def hammer(url: str, paths: list[str], headers: dict[str, str], concurrency: int) -> float:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency)) as c:
        queue = iter(paths)

        async def worker() -> None:
            for p in queue:
                r = await c.get(p)
                r.raise_for_status()
        t = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(paths) / (time.perf_counter() - t)


def wrk(url: str, path_list: list[str], headers: dict[str, str], seconds: int = 8) -> float | None:
    """Requests/s measured by wrk (a C load generator), or None when wrk isn't installed."""
    import shutil

    if not shutil.which("wrk"):
        return None
    script = Path(tempfile.mkdtemp()) / "paths.lua"
    items = ",".join('"' + p + '"' for p in path_list[:2000])
    hdrs = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    script.write_text(hdrs + "local paths = {" + items + "}\n"
                      "request = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n")
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(script), url], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--decisions", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=20_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        t = time.perf_counter()
        ips = seed(data, args.decisions)
        print(f"seeded {len(ips):,} active decisions in {time.perf_counter() - t:.1f}s")
        engine = open_state(data)
        key = add_bouncer(engine, "bench")
        token = create_token(engine, "bench-api", "default", "api")
        port = free_port()
        cfg = Path(d) / "g.yaml"
        cfg.write_text(f"data_dir: {data}\ningest: {{http: '127.0.0.1:{port}', syslog_udp: null, syslog_tcp: null}}\n"
                       "detect: {sigma: {enabled: false}}\n")
        proc = subprocess.Popen([sys.executable, "-m", "garrison", "--config", str(cfg), "serve"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, 30)
            h = {"X-Api-Key": key}
            t = time.perf_counter()
            r = httpx.get(url + "/v1/decisions/stream", params={"startup": "true"}, headers=h, timeout=120)
            startup_s = time.perf_counter() - t
            n_new = len(r.json()["new"] or [])
            rng = random.Random(2)
            paths = [f"/v1/decisions?ip={rng.choice(ips) if i % 2 else f'10.{i % 250}.{i % 199}.{i % 97 + 1}'}"
                     for i in range(args.requests)]
            lookups = wrk(url, paths, h) or asyncio.run(hammer(url, paths, h, 64))
            ceiling = wrk(url, ["/healthz"], {}) or asyncio.run(hammer(url, ["/healthz"] * args.requests, {}, 64))
            lat = []
            with httpx.Client(base_url=url, timeout=10) as c:
                c.get("/v1/decisions/stream", headers=h)
                for i in range(20):
                    ip = f"203.0.113.{i + 1}"
                    t = time.perf_counter()
                    c.post("/api/v1/decisions", json={"value": ip, "duration": "1h"},
                           headers={"Authorization": f"Bearer {token}"}).raise_for_status()
                    while True:
                        new = c.get("/v1/decisions/stream", headers=h).json()["new"] or []
                        if any(x["value"] == ip for x in new):
                            lat.append(time.perf_counter() - t)
                            break
                        time.sleep(0.1)
            print(f"{'measure':52} {'value':>12}")
            print(f"{'lookups/s  GET /v1/decisions?ip= (100k active)':52} {lookups:12,.0f}")
            print(f"{'baseline: GET /healthz/s, same server':52} {ceiling:12,.0f}")
            print(f"{'startup stream: decisions, seconds':52} {n_new:>8,} {startup_s:5.2f}s")
            print(f"{'ban -> bouncer stream, median / max (100 ms polls)':52} "
                  f"{statistics.median(lat) * 1000:7.0f} ms / {max(lat) * 1000:.0f} ms")
            print("A real bouncer adds its own polling interval (update_frequency, 10 s by default) to the last line.")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
