"""Shared fixtures. Real data comes from ../shared/data (see its README)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from garrison.config import load_config
from garrison.model import RawRecord
from garrison.parse import ParseState, parse_record
from garrison.pipeline import build_pipeline
from garrison.store import EventStore, open_state

IN_CI = bool(os.environ.get("CI"))


def needs(missing: bool, reason: str):
    """Skip a test whose tool is missing on a developer's machine; in CI (which installs everything) a
    missing tool is a failure, not a silent skip."""
    if IN_CI:
        return pytest.mark.skipif(False, reason=reason) if not missing else pytest.mark.usefixtures("_ci_missing")
    return pytest.mark.skipif(missing, reason=reason)


@pytest.fixture
def _ci_missing(request):
    pytest.fail(f"{request.node.name}: a tool this test needs is missing in CI (make test-deps installs it)")


DATA = Path(os.environ.get("GARRISON_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data() -> Path:
    assert DATA.is_dir(), f"shared data not found at {DATA}; set GARRISON_SHARED_DATA"
    return DATA


def parse_lines(lines, source="test", fmt=None, reference_us=None):
    """Parse text lines; return (events, errors) where errors are (line, reason)."""
    st = ParseState(source=source, format=fmt, forced=fmt is not None, reference_us=reference_us)
    events, errors = [], []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = parse_record(RawRecord(text=line, source=source, position=i), st)
        except Exception as e:  # noqa: BLE001 - tests report every failure
            errors.append((line, str(e)))
            continue
        if ev is not None:
            events.append(ev)
    return events, errors


@pytest.fixture
def store(tmp_path):
    engine = open_state(tmp_path)
    return EventStore(tmp_path, engine)


@pytest.fixture
def pipeline(tmp_path):
    return build_pipeline(load_config(None, data_dir=str(tmp_path)))


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL (Debian's, started with initdb and pg_ctl) for the whole session."""
    from garrison.testing.servers import start_postgres

    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def nats_server():
    """nats-server with JetStream, on loopback, for the whole session."""
    from garrison.testing.servers import start_nats

    n = start_nats()
    yield n
    n.stop()
