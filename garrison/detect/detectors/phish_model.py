"""The learned part of the mail verdict: a logistic regression over a message's words and the analysis's signals.

It ships with the package (``phish_model.json``, trained on the public-domain SpamAssassin corpus only), loads
offline in milliseconds, and explains itself: ``explain`` names the features that moved a message most.
``train`` fits a new one (``garrison mail train``) on an organisation's own labelled mail. Plain Python: the
model is a dictionary of a few thousand weights, and training on 2,300 messages takes seconds, so a numerical
library would add a dependency without saving time.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

_TOKEN = re.compile(r"[a-z][a-z0-9'$]{1,24}")
MAX_TEXT = 6000


def features(ev: dict[str, Any], signals: Iterable[str] = ()) -> set[str]:
    """The binary features of one analysed message (see ``garrison.parse.mail``)."""
    subject = str(ev.get("email.subject") or "")
    text = str(ev.get("garrison.mail.text") or "")[:MAX_TEXT]
    f = {"s:" + t for t in _TOKEN.findall(subject.lower())}
    f.update("w:" + t for t in _TOKEN.findall(text.lower()))
    f.add("ct:" + str(ev.get("email.content_type") or ""))
    if ev.get("garrison.mail.html") and not ev.get("garrison.mail.plain"):
        f.add("html_only")
    links = len(ev.get("garrison.mail.links") or [])
    f.add("links:" + ("0" if links == 0 else "1-3" if links <= 3 else "4-10" if links <= 10 else "many"))
    for a in ev.get("email.attachments") or []:
        f.add("att:" + str(a.get("kind")))
    sender = str(ev.get("email.from.address") or "")
    if "." in sender:
        f.add("tld:" + sender.rsplit(".", 1)[1][:10])
    mailer = str(ev.get("email.x_mailer") or "").split(" ")[0].lower()[:30]
    f.add("mailer:" + (mailer or "none"))
    if subject and sum(c.isupper() for c in subject) > 0.5 * sum(c.isalpha() for c in subject) > 3:
        f.add("subject_shouts")
    if "!" in subject:
        f.add("subject_exclaims")
    if len(text) < 200:
        f.add("short_text")
    f.update("sig:" + s for s in signals)
    return f


@dataclass
class Model:
    weights: dict[str, float]
    bias: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def score(self, feats: set[str]) -> float:
        z = self.bias + sum(self.weights.get(f, 0.0) for f in feats)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def explain(self, feats: set[str], n: int = 4) -> list[tuple[str, float]]:
        """The features that pushed this message towards spam most, strongest first."""
        pushed = sorted(((f, self.weights[f]) for f in feats if self.weights.get(f, 0.0) > 0.3), key=lambda x: -x[1])
        return [(f, round(w, 2)) for f, w in pushed[:n]]

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(orjson.dumps({"bias": self.bias, "meta": self.meta,
                                             "weights": {k: round(v, 4) for k, v in sorted(self.weights.items())}}))


def describe(feature: str) -> str:
    kind, _, value = feature.partition(":")
    return {"s": f'the word "{value}" in the subject', "w": f'the word "{value}"', "ct": f"a body of type {value}",
            "att": f"a {value} attachment", "tld": f"a sender under .{value}", "mailer": f"sent with {value}",
            "links": f"{value} links", "sig": f"{value.replace('_', ' ')}"}.get(
        kind, {"html_only": "an HTML body with no text version", "subject_shouts": "a subject in capitals",
               "subject_exclaims": "an exclamation mark in the subject", "short_text": "very little text"}.get(feature, feature))


def load(path: str | Path | None = None) -> Model:
    raw = Path(path).read_bytes() if path else resources.files("garrison.detect.detectors").joinpath("phish_model.json").read_bytes()
    doc = orjson.loads(raw)
    return Model(weights=doc["weights"], bias=doc["bias"], meta=doc.get("meta", {}))


def train(samples: list[tuple[set[str], int]], epochs: int = 12, rate: float = 0.2, l2: float = 1e-4,
          min_df: int = 3, seed: int = 7) -> Model:
    """Logistic regression by stochastic gradient descent; features seen in fewer than ``min_df`` messages are dropped."""
    df = Counter(f for feats, _ in samples for f in feats)
    vocab = {f for f, c in df.items() if c >= min_df}
    data = [([f for f in feats if f in vocab], y) for feats, y in samples]
    w: dict[str, float] = dict.fromkeys(vocab, 0.0)
    b = 0.0
    rng = random.Random(seed)
    for epoch in range(epochs):
        rng.shuffle(data)
        lr = rate / (1 + epoch * 0.5)
        for feats, y in data:
            z = b + sum(w[f] for f in feats)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = p - y
            b -= lr * g
            for f in feats:
                w[f] -= lr * (g + l2 * w[f])
    kept = {f: v for f, v in w.items() if abs(v) >= 0.01}
    return Model(weights=kept, bias=b, meta={"messages": len(samples), "features": len(kept),
                                             "spam": sum(y for _, y in samples)})
