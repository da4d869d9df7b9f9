"""Impossible travel and new-country sign-ins (garrison/detect/detectors/travel.py), and the CrowdSec hub's
sshd impossible-travel test read through the whole pipeline (``../shared/data/crowdsec-hub``)."""

from __future__ import annotations

from garrison.detect.detectors.travel import TravelStage, km_between
from garrison.model.batch import Batch

M = 60_000_000


def _signin(t, user, country, ip="203.0.113.10", coords=None):
    ev = {"@timestamp": t, "user.name": user, "source.ip": ip, "event.category": "authentication",
          "event.outcome": "success", "garrison.reported_country": country}
    if coords:
        ev["source.geo.location"] = {"lat": coords[0], "lon": coords[1]}
    return ev


def _run(stage, events):
    b = Batch(events, [])
    stage(b)
    return b.detections


def test_distance():
    assert 340 < km_between((51.5, -0.13), (48.86, 2.35)) < 350  # London to Paris


def test_impossible_travel_with_coordinates():
    s = TravelStage()
    assert _run(s, [_signin(0, "ann@council.example", "GB", coords=(51.5, -0.13))]) == []
    (d,) = _run(s, [_signin(30 * M, "ann", "US", "198.18.0.1", coords=(40.7, -74.0))])  # 5,570 km in 30 minutes
    assert d.rule_id == "garrison.travel.impossible" and d.level == "high" and "km in 30 minutes" in d.extra["travel"]
    assert [e["source.ip"] for e in d.evidence] == ["203.0.113.10", "198.18.0.1"]
    # London to Paris in 10 hours is possible
    s2 = TravelStage()
    _run(s2, [_signin(0, "bob", "GB", coords=(51.5, -0.13))])
    assert _run(s2, [_signin(600 * M, "bob", "FR", coords=(48.86, 2.35))]) == []


def test_without_coordinates_different_countries_within_an_hour():
    s = TravelStage()
    _run(s, [_signin(0, "cat", "GB")])
    assert [d.rule_id for d in _run(s, [_signin(20 * M, "cat", "NG")])] == ["garrison.travel.impossible"]
    assert _run(s, [_signin(200 * M, "cat", "GB")]) == []  # back after more than an hour


def test_new_country_after_learning():
    s = TravelStage(learn=5)
    for k in range(5):
        assert _run(s, [_signin(k * 600 * M, "dan", "GB")]) == []
    (d,) = _run(s, [_signin(10_000 * M, "dan", "BR")])
    assert d.rule_id == "garrison.travel.new_country" and d.extra["known_countries"] == ["GB"]


def test_internal_and_failed_sign_ins_are_ignored():
    s = TravelStage()
    ev = _signin(0, "eve", "GB")
    _run(s, [ev, {**_signin(M, "eve", "RU"), "event.outcome": "failure"},
             {**_signin(2 * M, "eve", "US"), "garrison.source.zone": "internal"}])
    assert _run(s, [_signin(3 * M, "eve", "GB")]) == []


def test_crowdsec_sshd_impossible_travel(data, tmp_path):
    from garrison.evaluate.crowdsec import _detections

    dets = _detections(data / "crowdsec-hub/tests/sshd-impossible-travel/sshd-success-logs.log", tmp_path)
    (d,) = [d for d in dets if d.rule_id == "garrison.travel.impossible"]
    assert d.event["user.name"] == "vagrant" and {e["source.ip"] for e in d.evidence} == {"1.2.3.4", "9.8.8.8"}
