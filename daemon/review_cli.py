"""The review half of the `imagegen` command: `status`, `db rebuild`, `web`."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import Any

from config import Settings
from handlers.errors import ImagegenError
from handlers.imagegen import (
    EpisodeStatus,
    RunRow,
    episode_runs,
    media_db_file,
    rebuild_media_db,
    status,
)

# The exit codes of daemon/cli.py.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "status", parents=[common], help="every episode's last job, from the media database"
    )
    p.add_argument("episode", nargs="?", type=Path, metavar="EPISODE", help="this one, in detail")
    p.set_defaults(func=_cmd_status)

    p = sub.add_parser("db", parents=[common], help="the media database (<outputs_dir>/.imagegen)")
    p.add_argument("action", choices=["rebuild"], help="rebuild: make it again from the files")
    p.set_defaults(func=_cmd_db)

    p = sub.add_parser("web", parents=[common], help="serve the review pages with their buttons")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.set_defaults(func=_cmd_web)


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    try:
        rows = status(settings, args.episode)
        runs = episode_runs(settings, args.episode) if args.episode else []
    except (ImagegenError, OSError, sqlite3.Error) as e:
        print(f"imagegen status: {e}{_hint(e)}", file=sys.stderr)
        return EXIT_FAILED
    if args.episode is not None and not rows:
        print(f"imagegen status: {args.episode}: no job recorded yet", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(status_table(rows))
    if runs:
        print(f"\nlast {len(runs)} jobs of {rows[0].episode_id}, newest first:")
        sys.stdout.write(runs_table(runs))
    return EXIT_OK


def _cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    try:
        report = rebuild_media_db(settings)
    except (ImagegenError, OSError, sqlite3.Error) as e:
        print(f"imagegen db rebuild: {e}{_hint(e)}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"[OK] {media_db_file(settings)} rebuilt from the files: {report.episodes} episodes, "
        f"{report.assets} assets, {report.runs} runs in {report.seconds:.1f} s"
    )
    return EXIT_OK


def _hint(e: BaseException) -> str:
    if isinstance(e, PermissionError) or "readonly" in str(e):
        return (
            "; the database needs write access to <outputs_dir>/.imagegen even to read it "
            "(SQLite's WAL): run as the service's user or a member of its group"
        )
    return ""


def _cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from daemon.web import serve  # Starlette and uvicorn: only for this command

    try:
        return serve(settings, args.host, args.port)
    except OSError as e:
        print(f"imagegen web: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return EXIT_USAGE


def status_table(rows: list[EpisodeStatus]) -> str:
    """One line per episode: its last job and what its files hold. Built as one string:
    50,000 episodes print in a blink."""
    width = max((len(r.episode_id) for r in rows), default=7)
    line = f"%-{width}s  %-11s %-25s %8d %6d %6d %7.2f %8.2f%s"
    lines = [
        f"{'EPISODE':<{width}}  {'LAST JOB':<11} {'FINISHED':<25} {'CHAPTERS':>8} "
        f"{'IMAGES':>6} {'FAILED':>6} {'JOB $':>7} {'TOTAL $':>8}"
    ]
    lines += [
        line
        % (
            r.episode_id,
            r.status or "-",
            r.finished_at or "",
            r.chapters,
            r.images,
            r.failed_chapters,
            r.cost_usd or 0.0,
            r.cumulative_cost_usd,
            f"  {r.error}" if r.error else "",
        )
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def runs_table(runs: list[RunRow]) -> str:
    lines = []
    for run in runs:
        counts = ", ".join(f"{n} {k}" for k, n in run.counts.items() if n)
        lines.append(
            f"  {run.finished_at or run.started_at}  {run.status:<11} {counts or 'nothing done'}, "
            f"${run.cost_usd:.2f}  ({run.trigger})" + (f"\n      {run.error}" if run.error else "")
        )
    return "\n".join(lines) + "\n"
