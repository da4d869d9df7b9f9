"""Impossible travel and sign-ins from a new country: per-user state that Sigma cannot keep.

For every successful sign-in from outside the organisation (SSH, Windows, Entra ID, Microsoft 365, VPN,
web), the stage remembers where each user last signed in and which countries they sign in from:

- **Impossible travel** (high): two successful sign-ins of one user from different countries, where the
  speed needed between them exceeds ``speed_kmh`` over at least ``min_km`` — from coordinates when the
  source gives them (Entra ID's geoCoordinates, a MaxMind City database); without coordinates, different
  countries less than ``no_coords_hours`` apart.
- **New country** (medium): a successful sign-in from a country the user has not signed in from before,
  once the user has ``learn`` earlier successful sign-ins on record (so the first days don't alarm).

State is bounded (least recently seen users go first) and kept in memory: after a restart the stage
learns again, which can only miss, never invent, a detection.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from garrison.model.batch import Batch
from garrison.model.detection import Detection

TAGS_TRAVEL = ["attack.initial-access", "attack.t1078", "attack.defense-evasion", "garrison.impossible-travel"]
TAGS_NEW = ["attack.initial-access", "attack.t1078", "garrison.new-country"]


@dataclass
class _Seen:
    ts: int
    country: str
    coords: tuple[float, float] | None
    event: dict[str, Any]
    countries: dict[str, int] = field(default_factory=dict)
    successes: int = 0


def _coords(ev: dict[str, Any]) -> tuple[float, float] | None:
    loc = ev.get("source.geo.location")
    if isinstance(loc, dict) and isinstance(loc.get("lat"), (int, float)) and isinstance(loc.get("lon"), (int, float)):
        return float(loc["lat"]), float(loc["lon"])
    return None


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine), in km."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


class TravelStage:
    def __init__(self, speed_kmh: float = 900.0, min_km: float = 500.0, no_coords_hours: float = 1.0, learn: int = 5,
                 max_users: int = 200_000):
        self.speed, self.min_km, self.no_coords_us = speed_kmh, min_km, int(no_coords_hours * 3_600_000_000)
        self.learn, self.max_users = learn, max_users
        self.users: OrderedDict[str, _Seen] = OrderedDict()

    def __call__(self, batch: Batch) -> None:
        signins = [ev for ev in batch.events if ev.get("event.category") == "authentication"
                   and ev.get("event.outcome") == "success" and ev.get("user.name") and ev.get("source.ip")
                   and ev.get("garrison.source.zone") not in ("internal", "partner")]
        for ev in sorted(signins, key=lambda e: e.get("@timestamp") or 0):
            batch.detections.extend(self.check(ev))

    def check(self, ev: dict[str, Any]) -> list[Detection]:
        user = str(ev["user.name"]).split("@")[0].lower()
        country = str(ev.get("source.geo.country_iso_code") or ev.get("garrison.reported_country") or "")
        stamp = ev.get("@timestamp")
        if not country or not isinstance(stamp, int):
            return []
        ts = stamp
        out: list[Detection] = []
        seen = self.users.get(user)
        coords = _coords(ev)
        if seen is not None and seen.country != country and ts >= seen.ts:
            hours = max((ts - seen.ts) / 3_600_000_000, 1 / 60)
            if coords and seen.coords:
                km = km_between(coords, seen.coords)
                impossible = km >= self.min_km and km / hours > self.speed
                how = f"{km:,.0f} km in {hours * 60:,.0f} minutes"
            else:
                impossible = ts - seen.ts < self.no_coords_us
                how = f"{seen.country} then {country} within {hours * 60:,.0f} minutes"
            if impossible:
                out.append(Detection("garrison.travel.impossible", "Impossible travel - sign-ins too far apart for "
                                     "the time between them", "high", list(TAGS_TRAVEL), ts, ev, kind="detector",
                                     evidence=[seen.event, ev], extra={"travel": how}))
        if seen is not None and seen.successes >= self.learn and country not in seen.countries:
            out.append(Detection("garrison.travel.new_country", "Sign-in from a country never seen for this user",
                                 "medium", list(TAGS_NEW), ts, ev, kind="detector",
                                 extra={"known_countries": sorted(seen.countries)}))
        if seen is None:
            seen = self.users[user] = _Seen(ts, country, coords, ev)
            if len(self.users) > self.max_users:
                self.users.popitem(last=False)
        else:
            self.users.move_to_end(user)
            seen.ts, seen.country, seen.coords, seen.event = ts, country, coords, ev
        seen.successes += 1
        seen.countries[country] = seen.countries.get(country, 0) + 1
        if len(seen.countries) > 50:  # bounded: forget the least used
            del seen.countries[min(seen.countries, key=seen.countries.__getitem__)]
        return out
