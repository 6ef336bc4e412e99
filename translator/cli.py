"""Command line: `fwtranslate FILE --to torch` (the default command) and `fwtranslate rules [show ID]`.

Typer cannot mix a default command with subcommands, so `main()` dispatches by hand: when the first
argument names a subcommand ("rules") it runs the command group, otherwise the translate command.
`translate` may also be spelled out (`fwtranslate translate FILE ...`).

Exit codes: 0 all translated, 1 some findings need attention, 2 error (bad input or bad option).
This module imports neither TensorFlow nor torch: it must start fast (pre-commit runs it).
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .api import DIRECTIONS, LAYOUTS, Result, translate_file
from .findings import Finding
from .rules import ActivationRule, LayerRule, OpRule, RuleError, load_rules

SUBCOMMANDS = ("rules",)
PROG = "fwtranslate"

EPILOG = ("Exit codes: 0 all translated, 1 some findings need attention, 2 error.  "
          "Other commands: 'fwtranslate rules' lists the rules, 'fwtranslate rules show ID' shows one.")


# ---- helpers ---------------------------------------------------------------------------------------

def _err(line: str) -> None:
    print(line, file=sys.stderr)


def _fail(message: str) -> typer.Exit:
    _err(f"{PROG}: error: {message}")
    return typer.Exit(2)


def parse_shape(text: str) -> tuple:
    """'28,28,1' -> (28, 28, 1). A dimension may be None or ? (unknown). No batch dimension."""
    body = text.strip().strip("()[]").strip()
    if not body:
        raise typer.BadParameter(f"empty shape {text!r}; write it like 28,28,1 (without the batch)")
    dims = []
    for part in body.split(","):
        part = part.strip()
        if part == "" and dims:          # trailing comma: "32,"
            continue
        if part in ("None", "none", "?"):
            dims.append(None)
            continue
        try:
            value = int(part)
        except ValueError:
            raise typer.BadParameter(f"bad shape {text!r}: {part!r} is not an integer") from None
        if value <= 0:
            raise typer.BadParameter(f"bad shape {text!r}: dimensions must be positive")
        dims.append(value)
    return tuple(dims)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def write_atomic(path: Path, text: str, like: Path | None = None) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        # an existing target keeps its mode; a new one gets the input's (or the umask default)
        mode_from = path if path.exists() else (like if like is not None and like.exists() else None)
        if mode_from is not None:
            os.chmod(tmp, os.stat(mode_from).st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_stdout(text: str) -> None:
    try:
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is not None:
            sys.stdout.flush()
            buffer.write(text.encode("utf-8"))
            buffer.flush()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except BrokenPipeError:   # `fwtranslate model.py --to torch | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _version(value: bool) -> None:
    if value:
        print(f"{PROG} {__version__}")
        raise typer.Exit(0)


def _error_result(path: str, message: str) -> Result:
    return Result("", [Finding("FWT903", message, 0, 0, path)], file=path, error=True)


def _report(result: Result, quiet: bool) -> None:
    for finding in result.findings:
        if quiet and not (finding.needs_attention or result.error):
            continue
        _err(finding.format())
    if not quiet or result.error:
        _err(result.summary())


# ---- translate (the default command) -----------------------------------------------------------------

_HELP = {"help_option_names": ["-h", "--help"]}
translate_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None,
                            context_settings=_HELP)


@translate_app.command(epilog=EPILOG, no_args_is_help=True)
def translate(
    file: str = typer.Argument(..., metavar="FILE", help="Python file with Keras model code."),
    to: str = typer.Option(..., "--to", metavar="TARGET", help=f"Target framework: {', '.join(DIRECTIONS)}."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="OUT",
                                         help="Write the translation to OUT (default: stdout)."),
    in_place: bool = typer.Option(False, "--in-place", help="Rewrite FILE itself (atomically)."),
    layout: str = typer.Option("native", "--layout", metavar="native|keep",
                               help="native: idiomatic NCHW torch; keep: keep the Keras NHWC interface."),
    input_shape: Optional[List[str]] = typer.Option(  # parsed to tuples by the callback
        None, "--input-shape", metavar="SHAPE",
        help="Model input shape without the batch, e.g. 28,28,1; repeat for several inputs.",
        callback=lambda values: [parse_shape(v) for v in values or []]),
    rules: Optional[List[str]] = typer.Option(None, "--rules", metavar="DIR",
                                              help="Extra rule directory (repeatable)."),
    json_report: Optional[str] = typer.Option(None, "--json", metavar="REPORT.json",
                                              help="Write a JSON report (findings, models, mapping)."),
    quiet: bool = typer.Option(False, "-q", "--quiet",
                               help="Print only findings that need attention; no summary line."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=lambda value: _version(value),
                                 help="Print the version and exit."),
) -> None:
    """Translate Keras model source code in FILE to idiomatic PyTorch.

    The translated code goes to stdout (or OUT); findings and a summary go to stderr.
    """
    if to not in DIRECTIONS:
        raise _fail(f"--to {to!r} is not supported; choose one of: {', '.join(DIRECTIONS)}")
    if layout not in LAYOUTS:
        raise _fail(f"--layout {layout!r} is not supported; choose one of: {', '.join(LAYOUTS)}")
    shapes = list(input_shape or [])
    shape_arg = None if not shapes else (shapes[0] if len(shapes) == 1 else shapes)
    src = Path(file)
    out_path = Path(output) if output else None
    if out_path is not None and out_path.exists() and out_path.is_dir():
        raise _fail(f"-o {output}: is a directory; give a file name")
    if in_place and out_path is not None and not _same_file(out_path, src):
        raise _fail("--in-place rewrites FILE itself; do not combine it with a different -o")
    if out_path is not None and not in_place and src.exists() and _same_file(out_path, src):
        raise _fail(f"-o {output} is the input file; pass --in-place to overwrite it")
    if in_place:
        out_path = src

    if not src.exists():
        result = _error_result(file, "no such file")
    elif src.is_dir():
        result = _error_result(file, "is a directory, not a Python file")
    else:
        try:
            result = translate_file(src, to=to, layout=layout, input_shape=shape_arg,
                                    rules=tuple(rules or ()))
        except RuleError as exc:
            raise _fail(f"bad rule file: {exc}")
        except OSError as exc:
            result = _error_result(file, f"cannot read: {exc.strerror or exc}")
        except Exception as exc:   # an engine bug: report it as FWT901, never a half-written file
            if os.environ.get("FWTRANSLATE_DEBUG"):
                raise
            result = Result("", [Finding("FWT901", f"internal error: {type(exc).__name__}: {exc} "
                                         "(set FWTRANSLATE_DEBUG=1 for a traceback)", 0, 0, file)],
                            file=file, error=True)

    if json_report:
        try:
            write_atomic(Path(json_report), result.to_json() + "\n")
        except OSError as exc:
            _report(result, quiet)
            raise _fail(f"--json {json_report}: cannot write: {exc.strerror or exc}")

    if not result.error:
        try:
            if out_path is None:
                _write_stdout(result.code)
            elif in_place and _unchanged(src, result.code):
                pass                        # keep the file (and its mtime) as it was
            else:
                write_atomic(out_path, result.code, like=src)
        except OSError as exc:
            _report(result, quiet)
            raise _fail(f"cannot write {out_path}: {exc.strerror or exc}")
    _report(result, quiet)
    raise typer.Exit(result.exit_code)


def _unchanged(path: Path, code: str) -> bool:
    try:
        return path.read_bytes() == code.encode("utf-8")
    except OSError:
        return False


# ---- rules ------------------------------------------------------------------------------------------

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  rich_markup_mode=None, context_settings=_HELP,
                  help="fwtranslate: translate model code between Keras and PyTorch.")
rules_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, invoke_without_command=True,
                        rich_markup_mode=None, context_settings=_HELP,
                        help="List the translation rules, or show one.")
app.add_typer(rules_app, name="rules")

_RULES_OPT = typer.Option(None, "--rules", metavar="DIR", help="Extra rule directory (repeatable).")


def _load(extra) -> object:
    try:
        return load_rules(tuple(extra or ()))
    except RuleError as exc:
        raise _fail(f"bad rule file: {exc}")


def rule_source(rule) -> str:
    """The rule file, relative to the current directory or the built-in rules' parent when possible."""
    path = Path(rule.source)
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)


def rule_kind(rule) -> str:
    return {LayerRule: "layer", ActivationRule: "activation", OpRule: "op"}.get(type(rule), "?")


def rule_torch(rule) -> str:
    if isinstance(rule, ActivationRule):
        return rule.torch or "(identity)"
    target = rule.torch or ""
    emit = getattr(rule, "emit", None)
    if emit:
        target = f"{target} (emit: {emit})" if target else f"(emit: {emit})"
    return target


@rules_app.callback()
def rules_list(ctx: typer.Context, rules: Optional[List[str]] = _RULES_OPT) -> None:
    """List every rule: id, kind, Keras names, torch target, source file."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = rules
        return
    ruleset = _load(rules)
    rows = [("ID", "KIND", "KERAS", "TORCH", "SOURCE")]
    for rule in ruleset.by_id.values():
        keras = ", ".join(list(rule.keras) + list(getattr(rule, "functions", [])))
        rows.append((rule.id, rule_kind(rule), keras, rule_torch(rule), rule_source(rule)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]
        print("  ".join(cells).rstrip())


@rules_app.command("show")
def rules_show(ctx: typer.Context,
               rule_id: str = typer.Argument(..., metavar="ID",
                                             help="Rule id, Keras path or Keras class name."),
               rules: Optional[List[str]] = _RULES_OPT) -> None:
    """Show one rule entry as written in its rule file (params, weights, examples)."""
    extra = list(rules or []) + list((ctx.parent.obj if ctx.parent else None) or [])
    ruleset = _load(extra)
    rule = find_rule(ruleset, rule_id)
    if rule is None:
        import difflib
        close = difflib.get_close_matches(rule_id, list(ruleset.by_id), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; 'fwtranslate rules' lists them"
        raise _fail(f"no rule {rule_id!r}{hint}")
    print(render_rule(rule))


def find_rule(ruleset, name: str):
    if name in ruleset.by_id:
        return ruleset.by_id[name]
    for table in (ruleset.layers, ruleset.functions, ruleset.activations, ruleset.ops):
        if name in table:
            return table[name]
    for table in (ruleset.layers, ruleset.functions, ruleset.ops):
        for path, rule in table.items():
            if path.rsplit(".", 1)[-1] == name:
                return rule
    return None


def _raw_entry(rule) -> dict | None:
    """The entry as written in its YAML file (anchors resolved), or None if it cannot be read."""
    import yaml
    try:
        data = yaml.safe_load(Path(rule.source).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    section = {LayerRule: "layers", ActivationRule: "activations", OpRule: "ops"}[type(rule)]
    for entry in data.get(section) or []:
        if isinstance(entry, dict) and entry.get("id") == rule.id:
            return entry
    return None


def _non_default(item) -> dict:
    from dataclasses import MISSING, fields
    out = {}
    for f in fields(item):
        value = getattr(item, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if f.name == "source" or type(value) is object or (default is not MISSING and value == default):
            continue
        if isinstance(value, list) and value and not isinstance(value[0], (str, int, float, bool)):
            value = [_non_default(v) for v in value]
        out[f.name] = value
    return out


def _from_dataclass(rule) -> dict:
    """Fallback when the rule file cannot be re-read: the loaded rule, fields left at defaults omitted."""
    return _non_default(rule)


def render_rule(rule) -> str:
    """YAML-ish text: scalars as `key: value`, params/weights/examples one flow mapping a line."""
    import yaml

    def flow(value) -> str:
        return yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False).strip() \
            .removesuffix("\n...").strip()

    entry = _raw_entry(rule) or _from_dataclass(rule)
    lines = [f"# {rule_kind(rule)} rule from {rule_source(rule)}"]
    for key, value in entry.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines.append(f"{key}:")
            lines += [f"  - {flow(v)}" for v in value]
        elif isinstance(value, str) and "\n" in value:
            lines.append(f"{key}: |")
            lines += [f"  {line}" for line in value.rstrip().splitlines()]
        else:
            lines.append(f"{key}: {flow(value)}")
    return "\n".join(lines)


# ---- entry point ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        app(args=args, prog_name=PROG)
    else:
        if args and args[0] == "translate":
            args = args[1:]
        translate_app(args=args, prog_name=PROG)


if __name__ == "__main__":
    main()
