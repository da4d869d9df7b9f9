"""Country and AS of public IPs.

By default the database shipped inside the ``geoip2fast`` package (country and
AS name, IPv4 and IPv6). When MaxMind .mmdb files are configured they are used
instead, and the ASN database also gives ``source.as.number``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from garrison.config import EnrichConfig


class GeoLookup:
    def __init__(self, cfg: EnrichConfig):
        self._country_db: Any = None
        self._asn_db: Any = None
        self._fast: Any = None
        if cfg.maxmind_country or cfg.maxmind_asn:
            import maxminddb

            if cfg.maxmind_country:
                self._country_db = maxminddb.open_database(cfg.maxmind_country)
            if cfg.maxmind_asn:
                self._asn_db = maxminddb.open_database(cfg.maxmind_asn)
        if cfg.geoip and self._country_db is None:
            from geoip2fast import GeoIP2Fast

            self._fast = GeoIP2Fast(geoip2fast_data_file="geoip2fast-asn-ipv6.dat.gz", verbose=False)
        self.lookup = lru_cache(maxsize=200_000)(self._lookup)

    def _lookup(self, ip: str) -> tuple[str | None, int | None, str | None]:
        """(country ISO code, AS number, AS organisation) or Nones for private/unknown addresses."""
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None, None, None
        if not addr.is_global:
            return None, None, None
        country = asn = org = None
        if self._country_db is not None:
            rec = self._country_db.get(ip) or {}
            country = (rec.get("country") or rec.get("registered_country") or {}).get("iso_code")
        elif self._fast is not None:
            r = self._fast.lookup(ip)
            cc = getattr(r, "country_code", "") or ""
            country = cc if len(cc) == 2 and cc != "--" else None
            org = getattr(r, "asn_name", "") or None
        if self._asn_db is not None:
            rec = self._asn_db.get(ip) or {}
            asn = rec.get("autonomous_system_number")
            org = rec.get("autonomous_system_organization") or org
        return country, asn, org

    def enrich(self, ev: dict[str, Any]) -> None:
        for side in ("source", "destination"):
            ip = ev.get(side + ".ip")
            if not ip:
                continue
            country, asn, org = self.lookup(ip)
            if country:
                ev[side + ".geo.country_iso_code"] = country
            if asn:
                ev[side + ".as.number"] = asn
            if org:
                ev[side + ".as.organization.name"] = org
