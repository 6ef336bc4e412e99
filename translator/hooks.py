"""pre-commit hooks (declared in the repository's .pre-commit-hooks.yaml):

    fwtranslate-check [--to torch] [--strict] FILE...
        Fails (exit 1) when a file holds model code that cannot be translated automatically: every
        error finding (unknown layer, unsupported argument, shape not inferable, syntax error, ...)
        is printed as file:line:col. Warnings are printed too but fail only with --strict.
    fwtranslate-sync --to torch --out translated/ [--root src/] FILE...
        Regenerates the translated counterpart of each model file, OUT/<path relative to ROOT>, and
        fails (exit 1) when one was missing or stale: the new file is written, `git add` it and commit
        again. Files without model code have no counterpart (an existing one is kept in sync).

Both take the file names that pre-commit passes (the staged files), and exit 2 on bad usage.
Argument parsing is plain argparse and the translation path imports neither TensorFlow nor torch,
so that a hook starts fast on every commit.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PROG_CHECK = "fwtranslate-check"
PROG_SYNC = "fwtranslate-sync"


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("files", nargs="*", metavar="FILE", help="files to check (pre-commit passes them)")
    parser.add_argument("--to", default="torch", metavar="TARGET", help="target framework (default: torch)")
    parser.add_argument("--layout", default="native", metavar="native|keep", help="translation layout")
    parser.add_argument("--rules", action="append", default=[], metavar="DIR", help="extra rule directory")
    return parser


def _validate(parser: argparse.ArgumentParser, args) -> None:
    from .api import DIRECTIONS, LAYOUTS
    if args.to not in DIRECTIONS:
        parser.error(f"--to {args.to!r} is not supported; choose one of: {', '.join(DIRECTIONS)}")
    if args.layout not in LAYOUTS:
        parser.error(f"--layout {args.layout!r} is not supported; choose one of: {', '.join(LAYOUTS)}")
    from .rules import RuleError, load_rules
    try:
        load_rules(tuple(args.rules))
    except RuleError as exc:
        parser.error(f"bad rule file: {exc}")


def _translate(path: str, args):
    """The file's Result; unreadable files and engine failures become error results (never raise)."""
    from .api import Result, translate_file
    from .findings import Finding
    try:
        return translate_file(path, to=args.to, layout=args.layout, rules=tuple(args.rules))
    except OSError as exc:
        message = f"cannot read: {exc.strerror or exc}"
        return Result("", [Finding("FWT903", message, 0, 0, path)], file=path, error=True)
    except Exception as exc:
        if os.environ.get("FWTRANSLATE_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc} (set FWTRANSLATE_DEBUG=1 for a traceback)"
        return Result("", [Finding("FWT901", message, 0, 0, path)], file=path, error=True)


def check_main(argv: list[str] | None = None) -> int:
    parser = _parser(PROG_CHECK, "Fail when files hold model code that fwtranslate cannot translate "
                                 "automatically (error findings).")
    parser.add_argument("--strict", action="store_true", help="also fail on warnings")
    args = parser.parse_args(argv)
    _validate(parser, args)
    failing = {"error"} | ({"warning"} if args.strict else set())
    bad_files = bad_sites = 0
    for path in args.files:
        result = _translate(path, args)
        shown = [f for f in result.findings if f.needs_attention or result.error]
        for finding in shown:
            print(finding.format())
        bad = [f for f in result.findings if f.severity in failing]
        if bad:
            bad_files += 1
            bad_sites += len(bad)
    if bad_sites:
        print(f"{PROG_CHECK}: {bad_sites} finding{'s' if bad_sites != 1 else ''} in {bad_files} "
              f"file{'s' if bad_files != 1 else ''} cannot be translated automatically "
              f"(fix them, or translate those parts by hand)")
        return 1
    return 0


def sync_main(argv: list[str] | None = None) -> int:
    parser = _parser(PROG_SYNC, "Regenerate the translated counterpart of model files into a folder; "
                                "fail when one was missing or stale.")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder of the translated files")
    parser.add_argument("--root", default=".", metavar="DIR",
                        help="the counterpart of ROOT/a/b.py is OUT/a/b.py (default: the current directory)")
    args = parser.parse_args(argv)
    _validate(parser, args)
    from .project import write_atomic
    out, root = Path(args.out), Path(args.root)
    out_real, root_real = os.path.realpath(out), os.path.realpath(root)
    written = errors = 0
    for path in args.files:
        real = os.path.realpath(path)
        if real == out_real or real.startswith(out_real + os.sep):
            continue                                   # a translated file itself
        if not (real == root_real or real.startswith(root_real + os.sep)):
            print(f"{path}: not under --root {args.root}; skipped")
            continue
        target = out / os.path.relpath(real, root_real)
        result = _translate(path, args)
        if result.error:
            for finding in result.findings:
                print(finding.format())
            print(f"{path}: cannot regenerate {target}")
            errors += 1
            continue
        has_models = bool(result.models) or result.sites or result.failed_sites
        if not has_models and not target.exists():
            continue                                   # no model code, no counterpart
        new = result.code.encode("utf-8")
        try:
            old = target.read_bytes()
        except FileNotFoundError:
            old = None
        if old == new:
            continue
        write_atomic(target, new, like=Path(path))
        written += 1
        print(f"{PROG_SYNC}: wrote {target} ({'was missing' if old is None else 'was stale'}); "
              f"git add it and commit again")
        for finding in result.needs_attention:
            print(f"  {finding.format()}")
    return 1 if written or errors else 0


if __name__ == "__main__":     # python -m translator.hooks check|sync ...
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("check", "sync"):
        print("usage: python -m translator.hooks check|sync [options] FILE...", file=sys.stderr)
        sys.exit(2)
    sys.exit((check_main if command == "check" else sync_main)(sys.argv[2:]))
