"""The verdict on the real mail of ``../shared/data/email`` (issue 21's figures), every message judged, none crashing.

Folders are labels: SpamAssassin ham and spam, and phishing_pot's honeypot phishing. The shipped model was trained
on half of the SpamAssassin messages (``garrison mail train --half 0``); the figures hold on each half apart, so
they are not the training set's. phishing_pot was never trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from garrison.config import load_config
from garrison.pipeline.mail import analyze, summary
from tests.conftest import DATA

EMAIL = DATA / "email"
FOLDERS = {"easy-ham-1": "ham", "hard-ham-1": "ham", "spam-1": "spam", "spam-2": "spam", "samples-0001-2000": "phish"}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    cfg = load_config(None, data_dir=str(tmp_path_factory.mktemp("mail")))
    files = sorted(EMAIL.glob("*/*.tar.gz"))
    assert len(files) >= 5, f"the email data is missing from {EMAIL}"
    out: Counter[tuple[str, int, str]] = Counter()
    for item in analyze(cfg, files):
        s = summary(item)
        archive, _, member = s["source"].partition("!")
        folder = archive.rsplit("/", 1)[-1].removesuffix(".tar.gz")
        half = hashlib.sha256(member.encode()).digest()[0] % 2
        out[(folder, half, s["verdict"])] += 1
        assert s["reasons"], s
    return out


def _rate(v, label: str, half: int, wanted: tuple[str, ...]) -> float:
    rows = [(n, verdict) for (folder, h, verdict), n in v.items() if FOLDERS.get(folder) == label and h == half]
    judged = sum(n for n, verdict in rows if verdict != "unreadable")
    return sum(n for n, verdict in rows if verdict in wanted) / judged


@pytest.mark.parametrize("half", [0, 1])
def test_figures(verdicts, half):
    assert _rate(verdicts, "phish", half, ("phishing", "spam")) >= 0.95
    assert _rate(verdicts, "ham", half, ("phishing",)) <= 0.01
    assert _rate(verdicts, "spam", half, ("phishing", "spam")) >= 0.90
    assert _rate(verdicts, "ham", half, ("legitimate",)) >= 0.90  # the figures above are not bought by calling ham spam


def test_every_message_judged(verdicts):
    total = sum(verdicts.values())
    assert total == 2500 + 250 + 500 + 1396 + 2000
    unreadable = sum(n for (_, _, v), n in verdicts.items() if v == "unreadable")
    assert unreadable == 2  # phishing_pot's two empty files, and nothing else


def test_cli_json(tmp_path):
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "mail", "analyze", "--json",
                        str(EMAIL / "spamassassin" / "hard-ham-1.tar.gz")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 250 and all({"verdict", "score", "reasons", "from", "subject", "urls", "attachments"} <= set(x) for x in rows)
    r = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "mail", "analyze",
                        str(EMAIL / "spamassassin" / "hard-ham-1.tar.gz")], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "legitimate" in r.stdout.splitlines()[0]
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    model = tmp_path / "m.json"
    r = subprocess.run([sys.executable, "-m", "garrison", "--data-dir", str(tmp_path), "mail", "train", "--json",
                        "--ham", str(EMAIL / "spamassassin" / "hard-ham-1.tar.gz"),
                        "--spam", str(EMAIL / "spamassassin" / "spam-1.tar.gz"), "--out", str(model)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = json.loads(r.stdout)
    assert meta["messages"] == 750 - 14 + 14 and meta["spam"] == 500 and json.loads(model.read_text())["weights"]
