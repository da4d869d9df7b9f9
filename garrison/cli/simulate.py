"""``garrison simulate`` (write an organisation's logs with a ground truth), ``garrison replay`` (send them
to a running ``garrison serve``) and ``garrison evaluate`` (measure the incidents against the truth)."""

from __future__ import annotations

import click
import orjson
from rich.table import Table

from garrison.cli._context import Context, console, out, pass_ctx
from garrison.errors import GarrisonError


@click.command("simulate")
@click.option("--days", default=1, show_default=True, type=click.IntRange(1, 400))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write into.")
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="First day (default: the days up to yesterday).")
@click.option("--staff", default=5000, show_default=True, type=click.IntRange(10, 200_000))
@click.option("--serious", "serious_per_day", default=5, show_default=True, type=click.IntRange(0, 6),
              help="Serious attacks planted per day.")
@click.option("--recordings", type=click.Path(exists=True, file_okay=False),
              help="Folder of OTRF attack recordings (zips) to splice in, rebased in time and host.")
@click.option("--recordings-per-day", default=1, show_default=True, type=click.IntRange(0, 20))
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.01, 100),
              help="Multiply the background attempts and web traffic.")
@click.option("--no-attacks", is_flag=True, help="Benign days only, to measure false alarms against.")
def simulate_cmd(days: int, seed: int, out_dir: str, start: object, staff: int, serious_per_day: int,
                 recordings: str | None, recordings_per_day: int, scale: float, no_attacks: bool) -> None:
    """Write days of an organisation's logs in real formats, with attempts, serious attacks and a truth file."""
    from garrison.simulate.generate import simulate

    first = start.date() if start is not None else None  # type: ignore[attr-defined]
    with console.status("simulating…"):
        r = simulate(out_dir, days, seed, first, staff, serious_per_day, recordings, recordings_per_day, scale,
                     progress=lambda msg: console.print(f"  {msg}"), attacks=not no_attacks)
    console.print(f"[green]wrote[/] {r.events:,} events in {len(r.files)} files for {len(r.days)} day(s) to {r.out}; "
                  f"{r.serious} serious attacks and {r.attacks - r.serious} attempting sources in {r.out / 'truth.json'}")
    console.print(f"next: garrison --config CONFIG import {r.out}/*/  (with enrich.inventory: {r.out / 'inventory.yaml'}), "
                  f"then garrison evaluate --truth {r.out / 'truth.json'}")


@click.command("replay")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="A running garrison serve.")
@click.option("--token", envvar="GARRISON_TOKEN", required=True, help="Ingest token (or GARRISON_TOKEN).")
@click.option("--chunk", default=2000, show_default=True, type=click.IntRange(1, 100_000), help="Lines per request.")
def replay_cmd(folder: str, url: str, token: str, chunk: int) -> None:
    """Send a simulated folder to garrison serve over HTTP, all sources interleaved in time, day by day."""
    from garrison.simulate.replay import replay

    sent = replay(folder, url, token, chunk, progress=True)
    console.print(f"[green]sent[/] {sent:,} lines to {url}")


@click.command("evaluate")
@click.option("--truth", "truth_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_ctx
def evaluate_cmd(ctx: Context, truth_path: str, as_json: bool) -> None:
    """The funnel per day, and recall, false alarms and time to incident against a ground truth."""
    from garrison.evaluate.truth import evaluate

    ev = evaluate(ctx.engine, truth_path)
    if as_json:
        out.print_json(orjson.dumps(ev.to_json()).decode())
        return
    t = Table(title="Funnel per day")
    for c in ("day", "events", "attempts", "blocked", "detections", "incidents"):
        t.add_column(c, justify="right")
    for f in ev.funnel:
        t.add_row(f.day, f"{f.events:,}", f"{f.attempts:,}", f"{f.blocked:,}", f"{f.detections:,}", f"{f.incidents:,}")
    out.print(t)
    t = Table(title="Serious attacks")
    for c in ("day", "attack", "kind", "incident", "time to incident"):
        t.add_column(c)
    for a in ev.attacks:
        t.add_row(a.day, a.id, a.kind, ", ".join(f"#{i}" for i in a.incidents) or "[red]MISSED[/]",
                  f"{a.seconds_to_incident:.0f} s" if a.seconds_to_incident is not None else "-")
    out.print(t)
    med = ev.median_seconds
    out.print(f"recall {ev.recall:.0%} ({sum(a.covered for a in ev.attacks)}/{len(ev.attacks)}) · "
              f"median time to incident {med:.0f} s · most incidents in a day {ev.max_incidents_per_day} · "
              f"incidents on background attempts {len(ev.noise_incidents)} · false alarms {len(ev.false_alarms)}"
              if med is not None else f"recall {ev.recall:.0%} · no attack covered")
    if not ev.attacks:
        raise GarrisonError("the truth file names no serious attack")


COMMANDS = [simulate_cmd, replay_cmd, evaluate_cmd]
