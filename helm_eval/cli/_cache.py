"""``helm-eval cache``: what the response cache holds, and pruning answers too old to serve.

The file is the one a run in the current directory would use: ``--cache PATH``, else
``$HELM_EVAL_RESPONSE_CACHE``, else the config's ``cache_path``, else ``.helm-eval/cache.sqlite``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from helm_eval.config import find_config_file, load_project_config, parse_duration
from helm_eval.dispatch import ResponseCache
from helm_eval.pipeline import cache_path


def add_cache_command(sub: Any) -> None:
    """Register ``helm-eval cache stats|prune`` on the CLI's subparsers."""
    parser = sub.add_parser("cache", help="inspect or prune the response cache")
    actions = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    stats = actions.add_parser("stats", help="entries, size, oldest and newest answer")
    prune = actions.add_parser(
        "prune",
        help="delete answers older than a duration (default: the config's cache_ttl) and stale ones, then VACUUM",
        description="Delete answers stored longer ago than --older-than (default: the config's cache_ttl) and "
        "answers stored under an older key version, then compact the file. Safe to run between runs.",
    )
    prune.add_argument("--older-than", type=_duration, metavar="DURATION", help="e.g. 7d, 12h, 30m or seconds")
    for action in (stats, prune):
        action.add_argument("--cache", metavar="PATH", help="cache file (default: the config's, else .helm-eval/)")
        action.add_argument("--config", metavar="PATH", help="config file (default: helm-eval.yaml or pyproject)")
    stats.set_defaults(func=run_stats)
    prune.set_defaults(func=run_prune)


def _duration(value: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextmanager
def _opened(path: Path, absent: str) -> Iterator[ResponseCache | None]:
    """The cache file at ``path``, closed after; ``None`` (and a line saying so) when there is none."""
    if not path.is_file():
        print(f"no response cache at {_shown(path)}{absent}")
        yield None
        return
    cache = ResponseCache(path)
    try:
        yield cache
    finally:
        cache.close()


def _target(args: argparse.Namespace) -> tuple[Path, float | None]:
    """The cache file and the config's TTL (seconds)."""
    root = Path.cwd()
    path = Path(args.config) if args.config else find_config_file(root)
    config = load_project_config(path, root)
    file = Path(args.cache) if args.cache else cache_path(config.cache_path, root)
    return file, config.cache_ttl_seconds


def run_stats(args: argparse.Namespace) -> int:
    """Print entries, size and age of the cache file."""
    path, ttl = _target(args)
    with _opened(path, "") as cache:
        if cache is None:
            return 0
        stats = cache.stats(ttl)
    now = time.time()
    print(f"{_shown(path)}: {stats.entries:,} entries, {stats.size_bytes:,} bytes")
    if stats.oldest is not None and stats.newest is not None:
        print(f"oldest: {_when(stats.oldest, now)}; newest: {_when(stats.newest, now)}")
    if stats.stale:
        print(f"stale (an older key version, never served): {stats.stale:,}; `helm-eval cache prune` deletes them")
    if ttl is not None:
        print(f"cache_ttl: {_span(ttl)}; {stats.expired:,} entries older than that are misses until pruned")
    return 0


def run_prune(args: argparse.Namespace) -> int:
    """Delete what is older than ``--older-than`` (or the config's TTL) and every stale answer."""
    path, ttl = _target(args)
    older_than: float | None = args.older_than if args.older_than is not None else ttl
    with _opened(path, ": nothing to prune") as cache:
        if cache is None:
            return 0
        pruned = cache.prune(older_than)
    what = (
        f"older than {_span(older_than)}, or stale"
        if older_than is not None
        else "stale only: no --older-than, no cache_ttl"
    )
    print(
        f"removed {pruned.entries:,} entries and {pruned.bytes_freed:,} bytes from {_shown(path)} ({what}); "
        f"{pruned.left.entries:,} entries ({pruned.left.size_bytes:,} bytes) left"
    )
    return 0


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it lies under it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _when(ts: float, now: float) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(ts))
    return f"{stamp} ({_span(max(now - ts, 0.0))} ago)"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.0f}s"
