"""``garrison mail``: analyse suspicious messages (files, mailboxes, archives), train the verdict's model."""

from __future__ import annotations

import hashlib
from collections import Counter

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from garrison.cli._context import Context, console, fitted, json_line, out, pass_ctx
from garrison.model import Reject

VERDICTS = ("phishing", "spam", "simulation", "legitimate", "unreadable")


def _printable(text: str) -> str:
    """Control characters in a hostile subject would move the terminal's cursor or break the table's width."""
    return "".join(c if c.isprintable() else "?" for c in text)


@click.group()
def mail() -> None:
    """Analyse reported or suspicious email: a verdict with reasons, and the indicators to act on."""


@mail.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="One message per line as JSON: verdict, score, reasons, indicators.")
@click.option("--report", is_flag=True, help="The messages are reports (the suspect message is attached to each).")
@pass_ctx
def analyze(ctx: Context, paths: tuple[str, ...], as_json: bool, report: bool) -> None:
    """Judge each message in PATHS: .eml, Outlook .msg, .mbox, or folders and .tar(.gz)/.zip archives of them."""
    from garrison.pipeline.mail import analyze as run, summary

    counts: Counter[str] = Counter()
    rows: list[list[str]] = []
    with Progress(TextColumn("[bold]mail"), BarColumn(), TextColumn("{task.completed:,} messages"),
                  TextColumn("{task.fields[rate]:,.0f}/s"), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("mail", total=None, rate=0.0)
        start = bar.get_time()

        def progress(n: int) -> None:
            done = bar.tasks[0].completed + n
            bar.update(task, completed=done, rate=done / max(1e-6, bar.get_time() - start))

        for item in run(ctx.config, paths, report=report, progress=progress):
            s = summary(item)
            counts[s["verdict"]] += 1
            if as_json:
                json_line(s)
            elif len(rows) < 200:
                shown = s["reasons"][0] if isinstance(item, Reject) else s.get("subject") or ""
                rows.append([s["verdict"], "" if s["score"] is None else f"{s['score']:g}", _printable(s.get("from") or "")[:60],
                             _printable(shown)])
    if as_json:
        return
    title = ", ".join(f"{counts[v]:,} {v}" for v in VERDICTS if counts[v]) or "no messages"
    out.print(fitted(title, ["verdict", "score", "from", "subject"], rows, text=("from", "subject")))
    if sum(counts.values()) > len(rows):
        console.print(f"(the first {len(rows)} shown; --json gives every message with its reasons)")


@mail.command()
@click.option("--ham", "ham", multiple=True, required=True, type=click.Path(exists=True), help="Legitimate mail (repeatable).")
@click.option("--spam", "spam", multiple=True, required=True, type=click.Path(exists=True), help="Unwanted mail (repeatable).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Where to write the model (JSON).")
@click.option("--half", type=click.Choice(["all", "0", "1"]), default="all", show_default=True,
              help="Train on one half only (by a hash of each message's name), to measure on the other.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def train(ctx: Context, ham: tuple[str, ...], spam: tuple[str, ...], out_path: str, half: str, as_json: bool) -> None:
    """Fit the verdict's learned model on labelled mail; set detect.mail.model to use it."""
    from garrison.detect.detectors import phish_model
    from garrison.pipeline.mail import analyze as run

    samples = []
    for label, paths in ((0, ham), (1, spam)):
        for item in run(ctx.config, paths):
            if isinstance(item, Reject):
                continue
            name = str(item.get("log.file.path"))
            if half != "all" and hashlib.sha256(name.rpartition("!")[2].encode()).digest()[0] % 2 != int(half):
                continue
            samples.append((phish_model.features(item, item.get("garrison.mail.signals") or []), label))
    model = phish_model.train(samples)
    model.meta["half"] = half
    model.save(out_path)
    if as_json:
        json_line({"out": out_path, **model.meta})
    else:
        console.print(f"trained on {model.meta['messages']:,} messages ({model.meta['spam']:,} spam); "
                      f"{model.meta['features']:,} features written to {out_path}")


@mail.command()
@click.argument("incident", type=int)
@click.option("--days", default=30, show_default=True, help="How far back to search the mail, proxy and DNS logs.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def campaign(ctx: Context, incident: int, days: int, as_json: bool) -> None:
    """Who else received a reported phish, who clicked its links, and who reported it."""
    from garrison.errors import GarrisonError
    from garrison.pipeline.mail import incident_campaign

    try:
        c = incident_campaign(ctx.config, ctx.store, ctx.engine, incident, days)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line(c)
        return
    out.print(f"incident #{incident}: {c['verdict']} from {c['sender']}: {_printable(c['subject'])}")
    for r in c["reasons"]:
        out.print(f"  - {r}")
    rows = [["received", x, ""] for x in c["recipients"]] + \
           [["clicked", str(k.get("user") or k.get("source_ip") or "?"), k["host"]] for k in c["clicks"]] + \
           [["reported", x, ""] for x in c["reporters"]]
    out.print(fitted(f"{len(c['recipients'])} received, {len(c['clicks'])} clicks, {len(c['reporters'])} reported",
                     ["what", "who", "link host"], rows))


@mail.command("act")
@click.argument("incident", type=int)
@click.option("--block", is_flag=True, help="Block the sender, its domain and the link hosts (decisions and indicators).")
@click.option("--purge", is_flag=True, help="Delete the message from every mailbox that received it (Microsoft Graph).")
@click.option("--answer", is_flag=True, help="Email each reporter the verdict (notify.smtp_host).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def act_cmd(ctx: Context, incident: int, block: bool, purge: bool, answer: bool, as_json: bool) -> None:
    """Respond to a reported phish: block, purge, answer; what is done is commented on the incident."""
    from garrison.errors import GarrisonError
    from garrison.pipeline.mail import act_on_incident

    if not (block or purge or answer):
        raise click.UsageError("choose at least one of --block, --purge, --answer")
    try:
        r = act_on_incident(ctx.config, ctx.store, ctx.engine, incident, "cli", block, purge, answer)
    except GarrisonError as e:
        raise click.ClickException(str(e)) from e
    if as_json:
        json_line(r)
        return
    rows = [["block", x["value"], "refused: " + x["refused"] if "refused" in x else f"decision {x['decision']}"]
            for x in r.get("blocked", [])]
    rows += [["purge", x["mailbox"], f"{x['status']}, {x.get('deleted', 0)} deleted" + (f": {x['error']}" if x.get("error") else "")]
             for x in r.get("purged", [])]
    rows += [["answer", x["to"], "sent" if x["sent"] else f"failed: {x.get('error')}"] for x in r.get("answered", [])]
    out.print(fitted(f"incident #{incident} ({r['verdict']})", ["action", "target", "result"], rows, text=("result",)))


COMMANDS = [mail]
