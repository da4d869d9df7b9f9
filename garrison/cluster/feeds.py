"""Public feeds subscribed to (``cluster.feeds``): a MISP feed, a TAXII 2.1 collection or a plain list, fetched every
``every_hours`` into one indicator list per feed (``data/intel/feeds/NAME.csv``) with the feed's expiry and trust,
which the intel stage loads; a low-trust feed's matches are low-severity detections, never bans.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from garrison.cluster.share import MAX_FEED_BYTES, import_misp_feed
from garrison.config import Config, read_secret_from
from garrison.detect.intel import load_file
from garrison.errors import GarrisonError

log = logging.getLogger("garrison.cluster")
_done: dict[str, float] = {}


def _fetch(url: str, auth: tuple[str, str] | None = None, params: dict[str, str] | None = None) -> bytes:
    with httpx.Client(timeout=60, follow_redirects=True, auth=auth) as http:
        with http.stream("GET", url, params=params, headers={"Accept": "application/taxii+json;version=2.1, */*"}) as r:
            if r.status_code != 200:
                raise GarrisonError(f"{url}: HTTP {r.status_code}")
            body = b""
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > MAX_FEED_BYTES:
                    raise GarrisonError(f"{url}: over {MAX_FEED_BYTES:,} bytes")
    return body


def refresh(config: Config, feed: dict[str, Any]) -> int:
    """Fetch one feed and rewrite its list; returns how many indicators it holds."""
    name = "".join(c for c in str(feed["name"]) if c.isalnum() or c in "-_")[:64]
    kind, url = str(feed.get("kind", "list")), str(feed["url"])
    trust = str(feed.get("trust", "medium")).lower()
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + float(feed.get("expire_days", 7)) * 86400))
    auth = None
    if feed.get("user"):
        auth = (str(feed["user"]), read_secret_from(feed.get("key_file"), None, f"cluster.feeds[{name}].key") or "")
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        if kind == "misp":
            import_misp_feed(dataclasses.replace(config, data_dir=tmp), url, "f")
            files = sorted((t / "intel" / "feeds" / "f").glob("*.json"))
        elif kind == "taxii":
            env = orjson.loads(_fetch(url.rstrip("/") + "/objects/", auth))
            (t / "b.json").write_bytes(orjson.dumps({"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000",
                                                     "objects": env.get("objects", [])}))
            files = [t / "b.json"]
        elif kind == "list":
            (t / "list.txt").write_bytes(_fetch(url, auth))
            files = [t / "list.txt"]
        else:
            raise GarrisonError(f"cluster.feeds[{name}].kind: {kind!r}; one of misp, taxii, list")
        inds = [i for f in files for i in load_file(f)[0]]
    dest = Path(config.data_dir) / "intel" / "feeds"
    dest.mkdir(parents=True, exist_ok=True)
    tmpfile = dest / f".{name}.csv.tmp"
    with open(tmpfile, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["type", "value", "source", "expires", "trust"])
        for i in inds:
            w.writerow([i.type, i.value, f"feed {name}", expires, trust])
    tmpfile.replace(dest / f"{name}.csv")  # whole or not at all: the intel stage never reads half a list
    return len(inds)


def scheduled(config: Config) -> None:
    """Each feed whose time has come (``every_hours``), from ``garrison serve``'s scheduler; a failure is logged and retried."""
    for feed in config.cluster.feeds:
        key = str(feed.get("name"))
        if time.monotonic() - _done.get(key, -1e12) < float(feed.get("every_hours", 6)) * 3600:
            continue
        _done[key] = time.monotonic()
        try:
            n = refresh(config, feed)
            log.info("feed %s: %d indicators", key, n)
        except (GarrisonError, httpx.HTTPError, OSError, ValueError, KeyError) as e:
            _done[key] = time.monotonic() - float(feed.get("every_hours", 6)) * 3600 + 300  # retried in five minutes
            log.warning("feed %s not refreshed: %s", key, e)
