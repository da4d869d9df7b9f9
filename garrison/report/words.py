"""Plain English for councillors: incident summaries, the narrative and the glossary.

Every sentence is a template filled with figures from the report; nothing is invented. Each technical
word the report uses is in the glossary, and only the words the report used are printed.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pycountry

from garrison.report.figures import CATEGORY_NAMES, Report

# (ATT&CK technique or tactic prefix, what happened in plain words, glossary words it uses, a short name for
# the month-by-kind table), most serious first
KINDS = [
    ("attack.t1486", "Ransomware began locking files", ["ransomware"], "Ransomware"),
    ("attack.t1490", "Ransomware-like activity deleted the backups a computer keeps", ["ransomware"], "Backups deleted"),
    ("attack.t1505.003", "A back door (web shell) was planted on the website", ["web shell"], "Web shell"),
    ("attack.t1114", "An email account was taken over and set to forward mail outside", ["account takeover"],
     "Mailbox taken over"),
    ("attack.t1621", "Someone with a stolen password pushed sign-in approvals until one was accepted", ["MFA"],
     "Approvals pushed"),
    ("attack.t1210", "A computer tried to spread to others across the network, as worms do", ["worm"], "Worm"),
    ("attack.lateral-movement", "An intruder moved from one council computer to others", ["intruder"],
     "Intruder spreading"),
    ("attack.t1003", "Passwords were stolen from a computer's memory", ["intruder"], "Passwords stolen"),
    ("attack.t1204", "A harmful document ran a hidden program when it was opened", ["phishing", "malware"],
     "Harmful document"),
    ("attack.t1078", "A password was guessed and then used to sign in", ["brute force"], "Guessed and used"),
    ("attack.t1110.003", "Many accounts were tried with common passwords", ["password spraying"], "Password spraying"),
    ("attack.t1110", "Passwords were guessed repeatedly", ["brute force"], "Password guessing"),
    ("attack.execution", "A suspicious program ran on a council computer", ["malware"], "Suspicious program"),
    ("attack.credential-access", "Attempts were made to steal passwords", [], "Password theft tried"),
]
OTHER_KIND = "Suspicious activity needing a closer look"


def short_kind(summary: str) -> str:
    """The month-by-kind table's column for an incident, from its one-line summary."""
    return next((short for _, text, _, short in KINDS if summary.startswith(text)), "Other")


OUTCOME_WORDS = {"tp_breach": "the attacker succeeded (a breach)", "tp_stopped": "stopped before any harm",
                 "": "still being investigated"}

GLOSSARY = {
    "attempt": "One try at getting in or doing harm: a guessed password, a probe of the website, a knock on a "
               "network port. Most are automated and fail.",
    "blocked": "Stopped automatically, by the firewall or by a ban Garrison placed on the attacker's address.",
    "incident": "Something serious enough for the security team to look into: a group of related alerts about one "
                "attacker or one target.",
    "breach": "An incident in which the attacker succeeded, confirmed by the security team.",
    "scan": "An attacker's computer knocking on many network ports or addresses to find a way in.",
    "brute force": "Guessing a password by trying many, one after another.",
    "password spraying": "Trying a few common passwords against many accounts, to avoid locking any one out.",
    "phishing": "Email that tricks a person into opening something harmful or giving away a password.",
    "malware": "Harmful software.",
    "ransomware": "Malware that locks an organisation's files and demands payment to unlock them.",
    "web attack": "An attempt to make a website run the attacker's commands or reveal its data.",
    "web shell": "A hidden page an attacker plants on a website to give it commands.",
    "MFA": "Multi-factor authentication: a second check, such as approving a sign-in on a phone.",
    "account takeover": "An attacker using a staff member's account as if it were theirs.",
    "worm": "Malware that copies itself from computer to computer without anyone's help.",
    "intruder": "An attacker who has got inside the council's network.",
    "ban": "A rule that stops all traffic from an attacker's address for a set time.",
    "time to detect": "From the attack's first sign in the logs to the moment an incident was raised.",
    "time to contain": "From the attack's first sign to the moment the team marked it contained.",
    "network": "Here: the internet provider or hosting company an attack came from.",
}


_WITH_THE = {"Netherlands", "Philippines", "Bahamas", "Gambia", "Maldives"}
_SHORT_NAMES = {"RU": "Russia", "TR": "Turkey", "CZ": "Czechia"}


@cache
def country_name(code: str) -> str:
    """A country as a councillor says it: "Russia", "South Korea", "Iran", not an ISO code."""
    c = pycountry.countries.get(alpha_2=code.upper()) if len(code) == 2 else None
    if c is None:
        return code
    return _SHORT_NAMES.get(c.alpha_2) or getattr(c, "common_name", None) or c.name


def incident_summary(inc: dict[str, Any], tags: list[list[str]], entities: list[tuple[str, str]]) -> str:
    """One plain sentence: what happened, to what, and how it ended."""
    flat = {t.lower() for ts in tags for t in ts}
    what = next((text for key, text, _, _ in KINDS if any(t == key or t.startswith(key + ".") for t in flat)),
                OTHER_KIND)
    hosts = sorted({v for k, v in entities if k == "host"})
    users = sorted({v for k, v in entities if k == "user"})
    where = []
    if hosts:
        where.append(f"on {', '.join(hosts[:2])}{' and others' if len(hosts) > 2 else ''}")
    if users:
        where.append(f"involving {len(users)} account{'s' if len(users) > 1 else ''}")
    outcome = OUTCOME_WORDS.get(inc.get("outcome") or "", inc.get("outcome") or "")
    if not inc.get("outcome") and inc.get("status") in ("contained", "resolved"):
        outcome = "contained; the investigation is closing"
    return f"{what}{' ' + ' '.join(where) if where else ''}; {outcome}."


def words_used(r: Report) -> list[str]:
    used = ["attempt", "blocked", "incident", "breach", "time to detect", "time to contain", "ban"]
    used += [w for w, k in (("scan", "scan"), ("brute force", "password_guessing"), ("web attack", "web_attack"),
                            ("phishing", "phishing"), ("malware", "malware")) if r.by_category.get(k)]
    if r.networks:
        used.append("network")
    text = " ".join(i.summary for i in r.incidents)
    used += [w for _, s, ws, _ in KINDS for w in ws if s in text]
    return sorted(dict.fromkeys(used), key=str.lower)


def _n(x: int) -> str:
    return f"{x:,}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not yet"
    if seconds < 90:
        return _plural(round(seconds), "second")
    if seconds < 5400:
        return _plural(round(seconds / 60), "minute")
    if seconds < 172800:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def breach_words(r: Report) -> str:
    """What is known about breaches, and no more: 'none succeeded' only once every serious incident is closed."""
    if r.breaches:
        known = f"{_plural(r.breaches, 'breach').replace('breachs', 'breaches')} confirmed"
        return known + (f"; {r.still_open:,} still being investigated" if r.still_open else "")
    if r.still_open:
        return f"{r.still_open:,} still being investigated; none confirmed as a breach so far"
    return "none succeeded"


def narrative(r: Report) -> list[str]:
    """The opening paragraphs, each built from the report's own figures."""
    p = r.period
    out = []
    share = r.blocked / r.attempts if r.attempts else 0
    out.append(f"In {p.label} ({p.start:%-d %B %Y} to {p.end:%-d %B %Y}), Garrison recorded {_n(r.attempts)} attempts "
               f"to break into or disrupt {r.organization}: about {_n(round(r.per_day))} a day "
               f"over the {_plural(r.days_recorded, 'day')} with records. "
               f"{_n(r.blocked)} of them ({share:.0%}) were blocked automatically.")
    if r.previous_attempts:
        change = (r.attempts - r.previous_attempts) / r.previous_attempts
        word = "more" if change > 0 else "fewer"
        out.append(f"That is {abs(change):.0%} {word} than in the period of the same length before it "
                   f"({_n(r.previous_attempts)}).")
    if r.attempts:
        top = max(r.by_category, key=lambda k: r.by_category[k])
        out.append(f"The most common kind was {CATEGORY_NAMES[top].lower()} "
                   f"({r.by_category[top] / r.attempts:.0%} of all attempts).")
    if r.serious:
        out.append(f"{_plural(r.serious, 'serious incident')} needed the security team's investigation: "
                   f"{breach_words(r)}.")
        detects = sorted(i.detect_seconds for i in r.incidents if i.detect_seconds is not None)
        if detects:
            out.append(f"Serious attacks were detected a median of {_duration(detects[len(detects) // 2])} after "
                       f"their first sign.")
    else:
        out.append("No attempt was serious enough to need an investigation, and none succeeded.")
    if r.countries:
        top = [("the " if n.startswith("United ") or n in _WITH_THE else "") + n
               for n in (country_name(c) for c, _ in r.countries[:3])]
        out.append(f"Most attempts came from addresses in {', '.join(top[:-1]) + ' and ' if len(top) > 1 else ''}"
                   f"{top[-1]}.")
    if r.data_from:
        out.append(f"Garrison's records start on {r.data_from}; the figures cover the days since then.")
    return out


def duration(seconds: float | None) -> str:
    return _duration(seconds)
