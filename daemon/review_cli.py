"""The review half of the `imagegen` command: `select`, `rescore`, `status`,
`db rebuild`, `web`."""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from config import Settings
from daemon.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE, exit_code
from daemon.summary import summary_line
from handlers.errors import ImagegenError, UsageError
from handlers.imagegen import (
    EpisodeStatus,
    ManifestEntry,
    RunRow,
    chapter_candidates,
    episode_dir_of,
    episode_runs,
    media_db_file,
    pick,
    rebuild_media_db,
    rescore,
    status,
)


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "select",
        parents=[common],
        help="list a chapter's candidates, or use one of them as its image",
    )
    p.add_argument("episode", type=Path, metavar="EPISODE")
    p.add_argument("chapter_id", metavar="CHAPTER_ID")
    p.add_argument(
        "candidate", nargs="?", metavar="CANDIDATE", help="e.g. c02; without it, list them"
    )
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser(
        "rescore", parents=[common], help="check and judge kept candidates again; no image paid"
    )
    p.add_argument("episode", type=Path, metavar="EPISODE")
    p.add_argument(
        "--chapter", action="append", metavar="ID", help="only this chapter (repeatable)"
    )
    p.set_defaults(func=_cmd_rescore)

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


def _cmd_select(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.candidate is None:
            entry = chapter_candidates(args.episode, args.chapter_id, settings)
            sys.stdout.write(candidates_table(entry))
            return EXIT_OK
        result = pick(args.episode, args.chapter_id, args.candidate, settings, by=_who())
    except UsageError as e:
        print(f"imagegen select: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ImagegenError, OSError) as e:
        print(f"[FAIL] {episode_dir_of(args.episode).name}: {e}")
        return EXIT_FAILED
    print(summary_line(result), flush=True)
    for warning in result.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    return exit_code(result)


def _cmd_rescore(args: argparse.Namespace, settings: Settings) -> int:
    chapters = frozenset(args.chapter) if args.chapter else None
    result = rescore(args.episode, settings, chapters)
    print(summary_line(result), flush=True)
    for warning in result.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    return exit_code(result)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


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


def candidates_table(entry: ManifestEntry) -> str:
    """A chapter's candidates, the chosen one marked, each with its total, its judge
    score and what failed; then why the choice was made."""
    if not entry.candidates:
        return f"{entry.chapter_id}: no candidates kept ({entry.status})\n"
    lines = [f"{entry.chapter_id} ({entry.status}): {len(entry.candidates)} candidates"]
    for c in entry.candidates:
        mark = "*" if c.id == entry.selected else " "
        judge = f"judge {c.judge_score:.0f}" if c.judge_score is not None else "not judged"
        failed = c.failures()
        verdict = f"failed: {', '.join(failed)}" if failed else "passed"
        lines.append(
            f" {mark} {c.id:<4} total {c.total:5.1f}  {judge:<10}  {verdict:<24} "
            f"{c.provider or '-'}:{c.model or '-'}"
        )
    if entry.selection is not None:
        lines.append(f"chosen by {entry.selection.method}: {entry.selection.why}")
    return "\n".join(lines) + "\n"
