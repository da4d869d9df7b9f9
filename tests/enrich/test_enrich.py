"""Geo/AS enrichment from the shipped database, and inventory facts from YAML and CSV."""

from __future__ import annotations

import pytest

from garrison.config import EnrichConfig
from garrison.enrich import GeoLookup
from garrison.model.inventory import load_inventory
from garrison.errors import ConfigError


def test_geo_public_and_private():
    g = GeoLookup(EnrichConfig())
    ev = {"source.ip": "185.220.101.4", "destination.ip": "10.0.0.5"}
    g.enrich(ev)
    assert ev["source.geo.country_iso_code"] == "DE" and ev["source.as.organization.name"]
    assert "destination.geo.country_iso_code" not in ev
    ev6 = {"source.ip": "2a01:4f8::1"}
    g.enrich(ev6)
    assert ev6["source.geo.country_iso_code"] == "DE"


def test_inventory_yaml(tmp_path):
    p = tmp_path / "inv.yaml"
    p.write_text("own_ranges: [10.0.0.0/8]\npartner_ranges: [198.51.100.0/24]\n"
                 "critical_hosts: [{name: DC01, ip: 10.0.0.10, criticality: 5}]\n"
                 "users: [{name: Admin.Jones, department: IT, privileged: true}]\n")
    inv = load_inventory(p)
    ev = {"source.ip": "198.51.100.7", "destination.ip": "10.0.0.10", "host.name": "dc01", "user.name": "admin.jones@council.example"}
    inv.enrich(ev)
    assert ev["garrison.source.zone"] == "partner" and ev["garrison.destination.zone"] == "internal"
    assert ev["garrison.host.criticality"] == 5
    assert ev["garrison.user.privileged"] is True and ev["garrison.user.department"] == "IT"
    assert inv.is_protected("10.1.2.3") and inv.is_protected("198.51.100.1") and not inv.is_protected("203.0.113.1")


def test_inventory_csv_and_errors(tmp_path):
    p = tmp_path / "inv.csv"
    p.write_text("kind,value,criticality,department,privileged\nown_range,192.0.2.0/24,,,\nuser,bob,,Finance,false\n")
    inv = load_inventory(p)
    assert inv.zone("192.0.2.9") == "internal" and inv.zone("8.8.8.8") == "external"
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,value\nown_range,not-a-network\n")
    with pytest.raises(ConfigError, match="bad.csv:line 2"):
        load_inventory(bad)
