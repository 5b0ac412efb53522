"""The `imagegen` command's exit codes, one place for every subcommand."""

from __future__ import annotations

from handlers.imagegen import RunResult

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_BUSY = 4


def exit_code(result: RunResult) -> int:
    return {
        "ok": EXIT_OK,
        "up_to_date": EXIT_OK,
        "dry_run": EXIT_OK,
        "blocked": EXIT_BLOCKED,
        "busy": EXIT_BUSY,
    }.get(result.outcome, EXIT_FAILED)
