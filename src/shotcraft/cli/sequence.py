"""``shotcraft sequence run|status|export``: a sequence file from the start to market versions, and its timeline."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shotcraft.cli.app import OVERWRITE_HELP, app, console, friendly, out, progress_bar

sequence_app = typer.Typer(
    help="Run a sequence file (start → pick → transforms → market versions), see its state, export its timeline.",
    no_args_is_help=True,
)
app.add_typer(sequence_app, name="sequence")

_STATE_STYLE = {"done": "green", "stale": "yellow", "pending": "cyan"}


def _table(title: str, reports: list, verb: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("step", "kind", "from", "state", "why", "outputs"):
        table.add_column(column, overflow="fold")
    for r in reports:
        state = f"[{_STATE_STYLE[r.state]}]{r.state}[/]"
        if verb and r.state != "done":
            state += f" → {verb}"
        outputs = ", ".join(p.name for p in r.outputs[:4]) + (" …" if len(r.outputs) > 4 else "")
        table.add_row(r.name, r.kind, r.parent or "", state, r.reason, outputs)
    return table


@sequence_app.command("run")
@friendly
def run(
    file: Path = typer.Argument(..., help="The sequence file (YAML or JSON)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check everything and show the plan; write nothing."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Run the steps that are not done (inputs or spec changed, outputs missing or changed); skip the rest.
    Every problem in the file is reported before any work starts."""
    from shotcraft.sequence import load_sequence, run_sequence

    seq = load_sequence(file)
    with progress_bar(quiet) as progress:
        reports = run_sequence(seq, progress=progress, overwrite=overwrite, dry_run=dry_run)
    for report in reports:
        for notice in report.notices:
            console.print(f"[yellow]note:[/yellow] {report.name}: {notice}", highlight=False, soft_wrap=True)
    if dry_run:
        out.print(_table(f"{seq.name}: plan (nothing written)", reports, verb="would run"))
        return
    ran = [r.name for r in reports if r.ran]
    out.print(_table(f"{seq.name}: {len(ran)} step(s) run, {len(reports) - len(ran)} skipped", reports))


@sequence_app.command("status")
@friendly
def status(file: Path = typer.Argument(..., help="The sequence file.")) -> None:
    """Which steps are done, stale (made, but an input, spec or output changed since) or pending."""
    from shotcraft.sequence import load_sequence, sequence_status

    seq = load_sequence(file)
    out.print(_table(f"{seq.name}: {seq.state_path}", sequence_status(seq)))


@sequence_app.command("export")
@friendly
def export(
    file: Path = typer.Argument(..., help="The sequence file."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Timeline file: .otio, .fcpxml (FCP X), .xml (FCP 7 / Premiere) or .edl."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", "-y", help=OVERWRITE_HELP),
) -> None:
    """Export the sequence's takes and versions as a timeline: one track per take, transform and market
    version, exact frame rates, keyframes as markers, spec, seed and lineage as metadata."""
    from shotcraft.timeline import sequence_timeline, write_timeline

    timeline, notices = sequence_timeline(file)
    write_timeline(timeline, output, overwrite=overwrite)
    for notice in notices:
        console.print(f"[yellow]note:[/yellow] {notice}", highlight=False, soft_wrap=True)
    out.print(f"wrote {output} ({len(timeline.tracks)} tracks)")
