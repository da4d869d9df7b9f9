"""The verdict on an analysed email message: phishing, spam, legitimate or simulation, with a score and reasons.

Signals are found here in code (what a link, a name or an attachment shows); what each is worth, and its
reason in plain English, is data (``model/patterns/phish.yml``). The learned model (``phish_model``) adds the
word-level evidence that tells spam from legitimate mail. Look-alike domains are found against the brands of
the pattern file and the organisation's own and partner domains: IDN punycode decoded to its look-alike
skeleton, homoglyphs folded, an edit distance of one or two, a brand name as a hyphenated part, or a brand's
domain worn as a subdomain.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from garrison.detect.detectors import phish_model
from garrison.model.batch import Batch
from garrison.model.detection import Detection
from garrison.model.patterns import family
from garrison.store import indicators
from garrison.store.state_awareness import known_token, mark_reported

TAGS = ["attack.initial-access", "attack.t1566"]
_CONFUSABLE = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "$": "s", "@": "a", "і": "i", "ı": "i", "ј": "j",
                             "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "ԁ": "d", "ɡ": "g",
                             "ո": "n", "ѕ": "s", "ԝ": "w", "ν": "v", "ο": "o", "α": "a", "ӏ": "l", "ʟ": "l"})
_PASSWORD_HINT = re.compile(r"\b(?:password|passcode|pwd|pass|kennwort|senha|contraseña)\b\s*[:=is]*\s*\S{3,}", re.I)


@functools.cache
def _tld() -> Any:
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)  # the snapshot shipped with it: offline


@functools.lru_cache(maxsize=50_000)
def registered(host: str) -> str:
    """The registrable domain of a host name ('a.b.example.co.uk' -> 'example.co.uk'); an IP stays itself."""
    host = host.lower().strip(".[]")
    if not host or _is_ip(host):
        return host
    r = _tld()(host)
    return f"{r.domain}.{r.suffix}" if r.suffix and r.domain else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return host.replace(".", "").isdigit() and host.count(".") == 3


def skeleton(label: str) -> str:
    if "xn--" in label:
        try:
            label = label.encode("ascii").decode("idna")
        except (UnicodeError, ValueError):
            pass
    folded = unicodedata.normalize("NFKD", label.lower().translate(_CONFUSABLE))
    folded = "".join(c for c in folded if not unicodedata.combining(c)).translate(_CONFUSABLE)
    return folded.replace("rn", "m").replace("vv", "w")


def _distance(a: str, b: str, cap: int) -> int:
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if min(cur) > cap:
            return cap + 1
        prev = cur
    return prev[-1]


@dataclass
class Rules:
    """The pattern family ``phish`` and the organisation's own names, ready to match."""

    doc: dict[str, Any]
    protected: dict[str, str] = field(default_factory=dict)  # registered domain -> who it belongs to
    staff: dict[str, str] = field(default_factory=dict)  # display name (lower) -> staff name
    own: tuple[str, ...] = ()
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # skeleton of a protected label -> (domain, owner)
    brand_names: Any = None
    by_length: list[tuple[str, str]] = field(default_factory=list)  # protected domains, longest (most specific) first

    @classmethod
    def load(cls, own_domains: tuple[str, ...] = (), partner_domains: tuple[str, ...] = (),
             staff: dict[str, str] | None = None) -> Rules:
        doc = family("phish")
        protected = {d: brand for brand, ds in doc["brands"].items() for d in ds}
        protected.update({registered(d): "our own domain " + d for d in own_domains})
        protected.update({registered(d): "our partner " + d for d in partner_domains})
        r = cls(doc=doc, protected=protected, staff={k.lower(): v for k, v in (staff or {}).items()},
                own=tuple(registered(d) for d in own_domains))
        r.by_length = sorted(protected.items(), key=lambda kv: -len(kv[0]))
        for d, who in protected.items():
            label = d.split(".", 1)[0]
            if len(label) >= 5:
                r.labels.setdefault(skeleton(label), (d, who))
        r.brand_names = re.compile(r"\b(" + "|".join(re.escape(b) for b in sorted(doc["brands"], key=len, reverse=True)) + r")\b")
        return r

    def lookalike(self, host: str) -> str | None:
        """Whom this host imitates, or None."""
        host = host.lower().strip(".")
        reg = registered(host)
        if not reg or reg in self.protected or _is_ip(reg):
            return None
        for d, who in self.by_length:  # a protected domain worn as a subdomain: paypal.com.evil.example
            if host.startswith(d + ".") or ("." + d + ".") in host:
                return f"{who} ({d})"
        label = reg.split(".", 1)[0]
        sk = skeleton(label)
        if sk in self.labels and (label != sk or "xn--" in label or reg != self.labels[sk][0]):
            d, who = self.labels[sk]
            if label != d.split(".", 1)[0] or "xn--" in label:
                return f"{who} ({d})"
        for part in sk.split("-") if "-" in sk else ():
            if part in self.labels and len(part) >= 5:
                d, who = self.labels[part]
                return f"{who} ({d})"
        if len(sk) >= 6:
            for psk, (d, who) in self.labels.items():
                cap = 2 if len(psk) >= 9 else 1
                if psk != sk and psk[0] == sk[0] and _distance(sk, psk, cap) <= cap:
                    return f"{who} ({d})"
        return None


_DOMAIN_NAME = re.compile(r"(?:[a-z0-9-]+\.)+[a-z]{2,12}")


_ROLE = re.compile(r"(?:info|no-?reply|do-?not-?reply|news|newsletter|support|contact|hello|mail|admin|service|marketing|team|"
                   r"notifications?|alerts?|billing|sales|offers?)[\w.+-]{0,12}@")
_GENERIC_NAME = frozenset("the and from your our for with mrs miss team support service services customer customers info news "
                          "newsletter notification notifications mail email admin administrator update updates daily weekly "
                          "department account accounts security alert alerts center centre help desk office online".split())


def _unrelated_name(name: str, address: str) -> bool:
    """A display name of two words or more, none of which the address (its own part or its domain) mentions.

    Asked only of free-mail and role addresses (info@, noreply@): a person's own address often bears no name."""
    words = [w for w in re.findall(r"[a-z]{3,}", unicodedata.normalize("NFKD", name)) if w not in _GENERIC_NAME]
    flat = re.sub(r"[^a-z0-9]", "", address.lower())
    return len(words) >= 2 and not any(w[:4] in flat for w in words)


def _claims(name: str, brand: str) -> bool:
    """The display name presents itself as the brand ("PayPal", "Microsoft account team"), not merely mentions it."""
    rest = [w for w in re.findall(r"[a-z0-9]{2,}", name.replace(brand, " ")) if w not in _GENERIC_NAME]
    return brand in name and len(rest) <= 1


def _host(url: str) -> str:
    try:
        u = urlsplit(url if "://" in url[:12] else "http://" + url)
        return (u.hostname or "").lower()
    except ValueError:
        return ""


def _phrases(text: str, phrases: list[str]) -> list[str]:
    return [p for p in phrases if p in text][:3]


def signals(ev: dict[str, Any], r: Rules, first_seen: Callable[[str], str | None] | None = None) -> list[tuple[str, str]]:
    """The signals one analysed message shows, each with its detail."""
    out: list[tuple[str, str]] = []
    doc = r.doc
    sender = str(ev.get("email.from.address") or "")
    name = str(ev.get("email.from.name") or "").lower()
    sdom = sender.rpartition("@")[2]
    sreg = registered(sdom) if sdom else ""
    auth = ev.get("garrison.mail.auth") or {}
    failed = [f"{k}={v}" for k, v in auth.items() if k in ("spf", "dkim") and v in ("fail", "softfail", "permerror")]
    if auth.get("dmarc") == "fail":
        out.append(("dmarc_fail", ""))
    elif failed:
        out.append(("auth_fail", ", ".join(failed)))
    reply = str(ev.get("email.reply_to.address") or "")
    if reply and sreg and registered(reply.rpartition("@")[2]) != sreg:
        out.append(("reply_to_elsewhere", reply.rpartition("@")[2]))
    shown = re.search(r"[\w.+-]+@([\w-]+(?:\.[\w-]+)+)", name)
    if shown and sreg and registered(shown.group(1)) != sreg:
        out.append(("display_name_address", shown.group(0)))
    elif sreg and _DOMAIN_NAME.fullmatch(name.strip("\"' ")) and registered(name.strip("\"' ")) != sreg:
        out.append(("display_name_address", name.strip("\"' ")))
    if (sreg in doc["free_mail"] or _ROLE.match(sender)) and _unrelated_name(name, sender):
        out.append(("name_not_address", ""))
    claimed = r.brand_names.search(name) or r.brand_names.search(str(ev.get("email.subject") or "").lower()[:200])
    if claimed and sreg:
        brand_domains = doc["brands"][claimed.group(1)]
        if sreg in doc["free_mail"] and claimed.group(1) not in ("google", "microsoft", "outlook", "apple", "icloud"):
            out.append(("free_mail_brand", claimed.group(1)))
        elif _claims(name, claimed.group(1)) and sreg not in brand_domains and sreg not in r.own:
            out.append(("brand_impersonation", claimed.group(1)))
    if sdom and (who := r.lookalike(sdom)):
        out.append(("lookalike_sender", who))
    if name and sreg not in r.own and (staff := r.staff.get(name.strip("\"' "))):
        out.append(("staff_impersonation", staff))
    _link_signals(ev, r, out, sreg)
    _attachment_signals(ev, out)
    text = (str(ev.get("email.subject") or "") + " " + str(ev.get("garrison.mail.text") or "")).lower()
    for fam in ("urgency", "credential_words", "payment_words", "lure_words"):
        if (found := _phrases(text, doc[fam])):
            out.append((fam, ", ".join(found)))
    facts = ev.get("garrison.mail.html_facts") or {}
    if facts.get("hidden", 0) >= 3:
        out.append(("hidden_text", str(facts["hidden"])))
    if ev.get("garrison.mail.html") and len(str(ev.get("garrison.mail.text") or "")) < 80 and facts.get("images", 0) >= 1:
        out.append(("image_only", ""))
    if not ev.get("email.to.address"):
        out.append(("no_recipient", ""))
    defects = ev.get("garrison.mail.defects") or []
    if len(defects) >= 2:
        out.append(("malformed", ", ".join(sorted(set(defects))[:3])))
    if first_seen is not None and sreg and (when := first_seen(sreg)):
        out.append(("newly_seen_domain", when))
    return out


def _link_signals(ev: dict[str, Any], r: Rules, out: list[tuple[str, str]], sreg: str) -> None:
    doc = r.doc
    found: dict[str, str] = {}
    for link in ev.get("garrison.mail.links") or []:
        url = str(link.get("url") or "")
        low = url[:20].lower().lstrip()
        if low.startswith(("data:", "vbscript:")):  # javascript: links were common in legitimate HTML mail
            found.setdefault("script_url", low.split(":", 1)[0] + ":")
            continue
        if low.startswith("javascript:"):
            continue
        host = _host(url)
        if not host:
            continue
        reg = registered(host)
        if link.get("via") == "qr":
            found.setdefault("qr_link", host)
        if _is_ip(host):
            found.setdefault("ip_url", host)
        if reg in doc["shorteners"] or host in doc["shorteners"]:
            found.setdefault("shortener", host)
        if reg in doc["abused_hosting"] or any(host.endswith("." + h) or host == h for h in doc["abused_hosting"]):
            found.setdefault("abused_hosting", host)
        if "lookalike_link" not in found and (who := r.lookalike(host)):
            found["lookalike_link"] = who
        shown = str(link.get("text") or "").strip().lower()
        m = re.match(r"(?:https?://|www\.)((?:[a-z0-9-]+\.)*[a-z0-9-]+\.[a-z]{2,})(?:[/:?#]|$)", shown)
        if m and "link_text_mismatch" not in found and registered(m.group(1)) not in (reg, "") and "." in m.group(1):
            found["link_text_mismatch"] = f"{m.group(1)} -> {host}"
    facts = ev.get("garrison.mail.html_facts") or {}
    if facts.get("password_inputs"):
        found["credential_form"] = ""
    if facts.get("smuggling"):
        found["smuggling"] = ""
    if any(str(u).lower().startswith(("javascript:", "data:")) for u in facts.get("forms") or []):
        found.setdefault("script_url", "form")
    out.extend(found.items())


def _attachment_signals(ev: dict[str, Any], out: list[tuple[str, str]]) -> None:
    text = str(ev.get("garrison.mail.text") or "")
    for a in ev.get("email.attachments") or []:
        kind, fname = a.get("kind"), str(a.get("file.name") or a.get("kind"))
        if kind in ("executable", "shortcut", "disk_image", "onenote") or a.get("risky_members") or a.get("risky_name"):
            out.append(("risky_attachment", f"{fname}: {kind}" + (f" holding {a['risky_members'][0]}" if a.get("risky_members") else "")))
        if kind in ("html", "svg"):
            out.append(("html_attachment", fname))
            if a.get("smuggling"):
                out.append(("smuggling", fname))
            if a.get("password_inputs"):
                out.append(("credential_form", fname))
        if a.get("macros"):
            out.append(("macro", ", ".join(a.get("macro_flags") or []) or fname))
        if a.get("encrypted") and _PASSWORD_HINT.search(text):
            out.append(("encrypted_archive", fname))
    seen: set[str] = set()
    out[:] = [s for s in out if not (s[0] in seen or seen.add(s[0]))]  # type: ignore[func-returns-value]


@dataclass
class Verdict:
    verdict: str
    score: float
    spam_probability: float
    reasons: list[str]
    signals: list[str]
    model_features: list[tuple[str, float]]


def judge(ev: dict[str, Any], r: Rules, model: phish_model.Model,
          first_seen: Callable[[str], str | None] | None = None, simulation: Callable[[str], bool] | None = None) -> Verdict:
    found = signals(ev, r, first_seen)
    weights = r.doc["signals"]
    score = round(sum(weights[name]["weight"] for name, _ in found), 2)
    feats = phish_model.features(ev, [name for name, _ in found])
    p = model.score(feats)
    reasons = [weights[name]["reason"].format(detail=detail or "") for name, detail in found]
    why = model.explain(feats)
    token = str(ev.get("garrison.mail.token") or "")
    if token and simulation is not None and simulation(token):  # only a token Garrison issued: a header can be forged
        verdict = "simulation"
        reasons.insert(0, "it is one of our own awareness-training test messages")
    elif score >= r.doc["phishing_at"] or (p >= r.doc["spam_at"] and score >= r.doc["phishing_with_spam"]):
        verdict = "phishing"
    elif p >= r.doc["spam_at"] or score >= r.doc["spam_score_at"]:
        verdict = "spam"
    else:
        verdict = "legitimate"
    if verdict in ("spam", "phishing") and why:
        reasons.append("its wording and form resemble unwanted mail: " + ", ".join(phish_model.describe(f) for f, _ in why[:3]))
    if not reasons:
        reasons.append("nothing in its sender, links, attachments or wording looks suspicious")
    return Verdict(verdict, score, round(p, 3), reasons, [n for n, _ in found], why)


def _public_host(host: str, r: Rules) -> bool:
    """A host that may go on an indicator list: not a brand's or our own real domain, not a shortener or a shared
    host (their own page is not the attack; the full URL is listed instead)."""
    reg = registered(host)
    return bool(reg) and reg not in r.protected and reg not in r.doc["shorteners"] and reg not in r.doc["free_mail"] \
        and not any(host == h or host.endswith("." + h) for h in r.doc["abused_hosting"])


class PhishStage:
    """Judges every analysed message in a batch; phishing and spam become detections."""

    def __init__(self, rules: Rules, model: phish_model.Model, first_seen: Callable[[str], str | None] | None = None,
                 data_dir: str | None = None, engine: Any = None):
        self.rules, self.model, self.first_seen, self.data_dir, self.engine = rules, model, first_seen, data_dir, engine

    def _simulation(self, token: str) -> bool:
        with self.engine.connect() as c:
            return known_token(c, token)

    def indicators(self, ev: dict[str, Any]) -> list[tuple[str, str]]:
        """What a reported phish carries that can be watched for elsewhere: its sender's domain, link hosts and
        URLs, and its attachments' hashes."""
        out: list[tuple[str, str]] = []
        sender = str(ev.get("email.from.address") or "")
        if "@" in sender and _public_host(sender.rpartition("@")[2], self.rules):
            out.append(("domain", sender.rpartition("@")[2]))
        for link in (ev.get("garrison.mail.links") or [])[:20]:
            url = str(link.get("url") or "")
            host = _host(url)
            if url.startswith(("http://", "https://")) and host and not _is_ip(host):
                out.append(("url", url[:2048]))
                if _public_host(host, self.rules):
                    out.append(("domain", host))
        out += [("hash", str(a["file.hash.sha256"])) for a in ev.get("email.attachments") or [] if a.get("file.hash.sha256")]
        return out

    def __call__(self, batch: Batch) -> None:
        for ev in batch.events:
            if ev.get("event.dataset") != "email.message":
                continue
            v = judge(ev, self.rules, self.model, self.first_seen, self._simulation if self.engine is not None else None)
            if v.verdict == "simulation" and ev.get("email.reporter.address"):
                when = int(time.time() * 1e6)
                batch.in_commit.append(lambda c, token=str(ev["garrison.mail.token"]), when=when: mark_reported(c, token, when))
            sender = str(ev.get("email.from.address") or "")
            domain = registered(sender.rpartition("@")[2]) if "@" in sender else ""
            if domain and v.verdict in ("phishing", "spam"):
                ev["garrison.mail.campaign_key"] = sender if domain in self.rules.doc["free_mail"] else domain
            ev.update({"garrison.mail.verdict": v.verdict, "garrison.mail.score": v.score,
                       "garrison.mail.spam_probability": v.spam_probability, "garrison.mail.reasons": v.reasons,
                       "garrison.mail.signals": v.signals})
            if v.verdict == "phishing" and ev.get("email.reporter.address") and self.data_dir:
                found = self.indicators(ev)
                source = f"reported phish {ev.get('email.message_id') or ev.get('email.subject', '')}"
                batch.after_commit.append(lambda found=found, source=source: indicators.append(self.data_dir, found, source))
            if v.verdict in ("phishing", "spam"):
                batch.detections.append(Detection(
                    rule_id=f"garrison.mail.{v.verdict}", level="high" if v.verdict == "phishing" else "low",
                    rule_title="Phishing email" if v.verdict == "phishing" else "Spam email",
                    tags=TAGS + (["garrison.reported"] if ev.get("email.reporter.address") else []),
                    timestamp=ev.get("@timestamp") or 0, event=ev, kind="detector",
                    source_file=ev.get("log.file.path"), extra={"reasons": v.reasons, "score": v.score}))
