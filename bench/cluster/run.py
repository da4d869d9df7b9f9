"""bench/cluster: what a member waits for in an exchange with the cluster hub, start-up included.

A hub (``garrison serve`` with ``cluster.role: hub``) and a member with N active bans: the member's
``garrison share push`` and a second member's ``garrison share poll`` are timed as processes. Baseline in the same
run: the same envelope POSTed and the same objects GETed with a bare HTTP client, nothing else.

    python bench/cluster/run.py [--bans 2000]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from garrison.cluster.share import collect, stix_bundle  # noqa: E402
from garrison.config import load_config  # noqa: E402
from garrison.model.decision import Decision  # noqa: E402
from garrison.respond.decisions import add_decision  # noqa: E402
from garrison.store import open_state  # noqa: E402
from garrison.testing import free_port, wait_ready  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bans", type=int, default=2000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        port = free_port()
        hub = Path(d) / "hub.yaml"
        hub.write_text(f"data_dir: {d}/hub\ncluster: {{role: hub}}\ningest: {{http: '127.0.0.1:{port}', syslog_udp: null, syslog_tcp: null}}\n")
        g = [sys.executable, "-m", "garrison"]
        keys = {m: subprocess.run(g + ["--config", str(hub), "cluster", "members", "add", m], capture_output=True, text=True,
                                  check=True).stdout.strip() for m in ("hospital", "airport", "baseline")}
        for m, k in keys.items():
            (Path(d) / f"{m}.key").write_text(k)
        cfg = load_config(None, data_dir=f"{d}/hospital")
        engine = open_state(cfg.data_path)
        now = int(time.time() * 1e6)
        for i in range(a.bans):
            add_decision(engine, Decision(type="ban", scope="ip", value=f"198.{18 + i // 65000}.{i // 250 % 256}.{i % 250 + 1}",
                                          origin="rule", reason="brute force", created_at=now, until=now + 3600_000_000), "bench")
        proc = subprocess.Popen(g + ["--config", str(hub), "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(f"http://127.0.0.1:{port}", 60)
            url = f"http://127.0.0.1:{port}"
            t0 = time.perf_counter()
            out = subprocess.run(g + ["--data-dir", f"{d}/hospital", "share", "push", "--hub", url, "--member", "hospital",
                                      "--key-file", f"{d}/hospital.key", "--json"], capture_output=True, text=True, check=True).stdout
            t1 = time.perf_counter()
            got = subprocess.run(g + ["--data-dir", f"{d}/airport", "share", "poll", "--hub", url, "--member", "airport",
                                      "--key-file", f"{d}/airport.key", "--json"], capture_output=True, text=True, check=True).stdout
            t2 = time.perf_counter()
            objs = json.loads(stix_bundle(collect(engine, cfg), "Baseline"))["objects"]
            with httpx.Client(auth=("baseline", keys["baseline"]), timeout=120) as http:
                cols = http.get(url + "/taxii2/cluster/collections/").json()["collections"]
                shared = next(c["id"] for c in cols if c["can_write"])
                t3 = time.perf_counter()
                http.post(f"{url}/taxii2/cluster/collections/{shared}/objects/", content=json.dumps({"objects": objs}),
                          headers={"Content-Type": "application/taxii+json;version=2.1"})
                t4 = time.perf_counter()
                n, nxt = 0, None
                while True:
                    env = http.get(f"{url}/taxii2/cluster/collections/{shared}/objects/", params={"next": nxt} if nxt else {}).json()
                    n += len(env.get("objects", []))
                    nxt = env.get("next")
                    if not env.get("more"):
                        break
                t5 = time.perf_counter()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"{a.bans:,} bans: garrison share push {t1 - t0:.1f} s ({json.loads(out)['success']:,} objects), "
          f"share poll {t2 - t1:.1f} s ({json.loads(got)['objects']:,} objects), both with process start; "
          f"baseline bare HTTP: POST {t4 - t3:.1f} s, GET all {n:,} objects {t5 - t4:.1f} s")


if __name__ == "__main__":
    main()
