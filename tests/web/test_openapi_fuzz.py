"""schemathesis against the app's own OpenAPI document, with valid credentials: no input gives a 5xx."""

from __future__ import annotations

import os
import tempfile

import schemathesis
from hypothesis import HealthCheck, settings

from garrison.config import load_config
from garrison.respond.bouncers import add_bouncer
from garrison.sources.tokens import create_token
from garrison.store import EventStore, open_state
from garrison.web.app import create_app

_dir = tempfile.mkdtemp(prefix="garrison-schemathesis-")
_engine = open_state(_dir)
APP = create_app(load_config(None, data_dir=_dir), _engine, lambda recs: len(recs), EventStore(_dir, _engine))
TOKEN = create_token(_engine, "fuzz", "default", scopes="ingest,api")
KEY = add_bouncer(_engine, "fuzz")
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)
EXAMPLES = int(os.environ.get("GARRISON_FUZZ_EXAMPLES", "150")) // 3 or 1


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case):
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Api-Key": KEY}
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
