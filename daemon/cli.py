"""The `imagegen` command: run, validate, daemon, retry, config."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import sys
from pathlib import Path
from typing import Any

import structlog

from config import (
    ConfigError,
    Settings,
    config_path,
    load_settings,
    secret_source,
    setting_source,
)
from daemon import review_cli
from daemon.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE, exit_code
from daemon.logging import configure_logging
from daemon.summary import summary_line
from handlers.errors import ImagegenError
from handlers.imagegen import (
    RunRequest,
    RunResult,
    episode_dir_of,
    price_table,
    provider_report,
    request_retry,
    run,
    validate,
)

M_MMAP_THRESHOLD = -3  # mallopt(3) parameter of glibc's malloc.h


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # The daemon's log is its output: always at INFO. One-shot commands print a line
    # per episode and log only warnings unless -v.
    configure_logging(args.log_format, verbose=args.verbose or args.command == "daemon")
    try:
        settings = load_settings(args.config, overrides=_overrides(args))
    except ConfigError as e:
        print(f"imagegen: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        code: int = args.func(args, settings)
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help="TOML file (else $IMAGEGEN_CONFIG, /etc/imagegen/imagegen.toml)"
    )
    common.add_argument(
        "--outputs-dir", type=Path, help="root of the episodes tree (setting outputs_dir)"
    )
    common.add_argument(
        "--log-format", choices=["auto", "console", "json", "journal"], default="auto"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log every chapter event")

    parser = argparse.ArgumentParser(
        prog="imagegen", description="Turn each chapter of chapters.json into an image."
    )
    parser.add_argument("--version", action="version", version=f"imagegen {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", parents=[common], help="process episode directories once")
    p.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="episode dir or its chapters.json"
    )
    p.add_argument("--force", action="store_true", help="regenerate every chapter")
    p.add_argument(
        "--chapter", action="append", metavar="ID", help="regenerate only this chapter (repeatable)"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write images/imagegen_request.json only; pay nothing",
    )
    p.add_argument(
        "--no-wait", action="store_true", help="exit at once if another run holds the episode"
    )
    p.add_argument("--max-cost", type=float, metavar="USD", help="setting max_episode_cost_usd")
    p.add_argument(
        "--candidates",
        type=int,
        metavar="N",
        help="candidates per generated chapter, this run (setting selection.candidates)",
    )
    p.add_argument(
        "--storyboard",
        action="store_true",
        help="also make the storyboard: start and end frames per clip (setting storyboard.enabled)",
    )
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("validate", parents=[common], help="check a chapters.json")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("daemon", parents=[common], help="watch outputs_dir and process episodes")
    p.add_argument(
        "--polling", action="store_true", help="poll instead of inotify (setting daemon.polling)"
    )
    p.add_argument(
        "--create",
        action="store_true",
        help="create outputs_dir if it does not exist (else a missing one is an error)",
    )
    p.add_argument(
        "--storyboard",
        action="store_true",
        help="make a storyboard for every episode it processes (setting storyboard.enabled)",
    )
    p.set_defaults(func=_cmd_daemon)

    p = sub.add_parser("retry", parents=[common], help="ask the daemon to retry an episode now")
    p.add_argument("paths", nargs="+", type=Path, metavar="EPISODE")
    p.set_defaults(func=_cmd_retry)

    p = sub.add_parser("config", parents=[common], help="print the effective configuration")
    p.add_argument("--prices", action="store_true", help="print the effective price table")
    p.add_argument(
        "--check",
        action="store_true",
        help="ask each image provider with a key whether it accepts it (a free request)",
    )
    p.set_defaults(func=_cmd_config)
    review_cli.add_commands(sub, common)
    return parser


def _version() -> str:
    from importlib import metadata  # ~25 ms of imports: only for --version

    try:
        return metadata.version("imagegen")
    except metadata.PackageNotFoundError:  # a checkout used without `make venv`
        return "(not installed)"


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.outputs_dir is not None:
        overrides["outputs_dir"] = args.outputs_dir
    if getattr(args, "max_cost", None) is not None:
        overrides["max_episode_cost_usd"] = args.max_cost
    if getattr(args, "candidates", None) is not None:
        overrides["selection"] = {"candidates": args.candidates}
    if getattr(args, "polling", False):
        overrides["daemon"] = {"polling": True}
    if getattr(args, "storyboard", False):
        overrides["storyboard"] = {"enabled": True}
    return overrides


def _usage_error(message: str) -> int:
    print(f"imagegen: {message}", file=sys.stderr)
    return EXIT_USAGE


def _missing_outputs_dir(args: argparse.Namespace, settings: Settings) -> str | None:
    """Why outputs_dir cannot be used as the tree of episodes, or None."""
    root = settings.outputs_dir
    if root.is_dir():
        return None
    source = setting_source(("outputs_dir",), args.config, _overrides(args))
    shown = f"'{root}'" if root.is_absolute() else f"'{root}' (here {root.absolute()})"
    what = "not a directory" if root.exists() else "does not exist"
    return f"outputs_dir = {shown} ({source}): {what}"


def _print_waiting(message: str) -> None:
    print(
        f"imagegen: {message}; going on once it is released "
        "(Ctrl-C gives up; --no-wait never waits)",
        file=sys.stderr,
        flush=True,
    )


def _unknown_chapters(paths: list[Path], wanted: set[str], settings: Settings) -> str | None:
    """A --chapter that names no chapter is a usage error, found before any episode is
    touched. An unreadable chapters.json is left to the run, which reports it (exit 1)."""
    for path in paths:
        try:
            checked = validate(episode_dir_of(path), settings)
        except (ImagegenError, OSError):
            continue
        unknown = sorted(wanted - set(checked.chapter_ids))
        if unknown:
            return (
                f"--chapter {', '.join(unknown)}: no such chapter_id in {checked.file} "
                f"(it has {', '.join(checked.chapter_ids)})"
            )
    return None


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    problem = _missing_outputs_dir(args, settings)
    if problem is not None:
        return _usage_error(f"{problem}; set outputs_dir or --outputs-dir to the episodes tree")
    if args.chapter:
        problem = _unknown_chapters(args.paths, set(args.chapter), settings)
        if problem is not None:
            return _usage_error(problem)
    request = RunRequest(
        force=args.force,
        chapters=frozenset(args.chapter) if args.chapter else None,
        dry_run=args.dry_run,
        wait=not args.no_wait,
        trigger="cli",
        on_lock_wait=_print_waiting,
    )
    worst = EXIT_OK
    for path in args.paths:
        episode = episode_dir_of(path)
        try:
            result = run(episode, request, settings)
        except Exception as e:  # a bug costs this episode, not the ones after it
            structlog.get_logger("imagegen").exception("job_crashed", episode_id=episode.name)
            result = RunResult(
                episode.name,
                "failed",
                f"internal error: {type(e).__name__}: {e} (a bug in imagegen: the traceback "
                "is logged above; please report it)",
            )
        print(summary_line(result), flush=True)
        for warning in result.warnings:
            print(f"  warning: {warning}", file=sys.stderr)
        worst = max(worst, exit_code(result))
    return worst


def _cmd_daemon(args: argparse.Namespace, settings: Settings) -> int:
    root = settings.outputs_dir
    if args.create and not root.exists():
        try:
            root.mkdir(parents=True)
        except OSError as e:
            print(f"imagegen: cannot create outputs_dir {root}: {e.strerror}", file=sys.stderr)
            return EXIT_FAILED
        print(f"imagegen: created outputs_dir {root}", file=sys.stderr)
    problem = _missing_outputs_dir(args, settings)
    if problem is not None:
        # A typo must not become a new, empty tree that is watched forever.
        hint = (
            "point it at the episodes tree"
            if root.exists()
            else "check it for a typo, or add --create to create it"
        )
        return _usage_error(f"{problem}; {hint}")
    from daemon.service import serve

    return serve(settings, args.config, _overrides(args))


def _cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    """Leave a retry request the daemon acts on at once, bypassing its failure
    backoff; the daemon does the work, under its own user, and removes the request.
    With no daemon serving the tree, run the episodes here, as `imagegen run` does."""
    from daemon.presence import daemon_serving

    root = Path(os.path.realpath(settings.outputs_dir))
    if daemon_serving(root) is False:
        print(f"no imagegen daemon is serving {root}: running here (as `imagegen run` would)")
        worst = EXIT_OK
        for path in args.paths:
            result = run(episode_dir_of(path), RunRequest(trigger="cli: retry"), settings)
            print(summary_line(result), flush=True)
            worst = max(worst, exit_code(result))
        return worst
    worst = EXIT_OK
    for path in args.paths:
        try:
            name = request_retry(path, settings)
        except (ImagegenError, OSError) as e:
            print(f"[FAIL] {episode_dir_of(path).name}: {e}")
            worst = EXIT_FAILED
            continue
        print(f"[OK] {name}: retry requested; follow it with journalctl -u imagegen -f")
    return worst


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    worst = EXIT_OK
    for path in args.paths:
        try:
            checked = validate(path, settings)
        except ImagegenError as e:
            print(f"[FAIL] {e}")
            worst = EXIT_FAILED
            continue
        print(
            f"[OK] {checked.file}: {checked.chapters} chapters "
            f"({checked.to_generate} to generate, {checked.templates} templates"
            + (f", {checked.skipped} skipped" if checked.skipped else "")
            + ")"
        )
        for warning in checked.warnings:
            print(f"  warning: {warning}")
    return worst


def _cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    if args.prices:
        date, table = price_table(settings)
        print(f"# USD; built-in prices as of {date}, overridden by [prices]")
        print(json.dumps(dict(sorted(table.items())), indent=2))
        return EXIT_OK
    data = settings.model_dump(mode="json")
    for section in ("openai", "anthropic", "gemini", "replicate"):
        source = secret_source(section)
        present = getattr(settings, section).api_key is not None
        data[section]["api_key"] = f"<set, from {source or 'the config'}>" if present else None
    # Which image providers the chains use and whether each is usable (key present;
    # with --check, accepted by the provider).
    data["image_providers"] = {
        status.provider: status.as_dict() for status in provider_report(settings, check=args.check)
    }
    print(f"# config file: {config_path(args.config) or '(none: built-in defaults)'}")
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return EXIT_OK


def entry() -> None:
    """The `imagegen` command (console script and `python -m daemon`): main(), then exit
    without the interpreter's teardown. Tearing ~400 modules down costs ~50 ms, a fifth
    of a no-op run, and is pointless here: every file we write is fsync'ed, output is
    flushed below, and no thread is left with work."""
    _return_freed_frames()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (`imagegen run ... | head -1`) has nothing left to keep.
        with contextlib.suppress(OSError):
            stream.flush()
    os._exit(code)


def _return_freed_frames() -> None:
    """A fixed malloc mmap threshold (glibc). A frame is a 6-9 MB buffer that lives for
    a second; after the first is freed glibc raises its threshold above that size and
    keeps later frames in its heaps, which only grow: a c=3 run peaked at 120-145 MB.
    Fixed at 1 MiB, every frame is mapped and handed back when freed (peak ~117 MB)."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass  # not glibc: its own allocator decides


if __name__ == "__main__":
    entry()
