"""Command line: `fwtranslate FILE --to torch` (the default command), `fwtranslate rules [show ID]`,
`fwtranslate verify FILE ...` and `fwtranslate weights SRC ...`.

Typer cannot mix a default command with subcommands, so `main()` dispatches by hand: when the first
argument names a subcommand ("rules", "verify", "weights") it runs the command group, otherwise the
translate command.
`translate` may also be spelled out (`fwtranslate translate FILE ...`).

`fwtranslate DIR --to torch -o OUTDIR` (or `--in-place`) translates a whole tree in parallel
(translator/project.py): one line per file (a progress bar on a terminal), then a run summary; exit
codes as for one file. `--diff` prints unified diffs and `--check` only reports (both write nothing;
exit 1 when something would change); `--report FILE` writes a JSON / Markdown / HTML / SARIF report
(translator/reports/); `--format sarif` prints the SARIF log on stdout.

Exit codes: 0 all translated, 1 some findings need attention, 2 error (bad input or bad option).
This module imports neither TensorFlow nor torch: it must start fast (pre-commit runs it).
`verify` and `weights` run the frameworks and the user's code in a worker process
(translator/verify/worker.py); their exit codes: 0 equivalent, 1 outputs differ, 2 error.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .atomic import write_atomic
from . import __version__
from .api import DIRECTIONS, LAYOUTS, Result, translate_file
from .findings import Finding
from .rules import ActivationRule, LayerRule, OpRule, RuleError, load_rules

SUBCOMMANDS = ("rules", "verify", "weights")
PROG = "fwtranslate"

EPILOG = ("Exit codes: 0 all translated, 1 some findings need attention, 2 error.  "
          "Other commands: 'fwtranslate rules' lists the rules, 'fwtranslate rules show ID' shows one, "
          "'fwtranslate verify FILE --to torch' proves a translation, 'fwtranslate weights SRC --model FILE "
          "--to torch -o OUT' converts a weight file.")


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
    file: str = typer.Argument(..., metavar="FILE", help="Python file with Keras model code, or a directory "
                                                          "(every *.py file under it; needs -o OUTDIR or --in-place)."),
    to: str = typer.Option(..., "--to", metavar="TARGET", help=f"Target framework: {', '.join(DIRECTIONS)}."),
    output: Optional[str] = typer.Option(None, "-o", "--output", metavar="OUT",
                                         help="Write the translation to OUT (default: stdout); for a directory, "
                                              "the output directory (it mirrors the source tree)."),
    in_place: bool = typer.Option(False, "--in-place", help="Rewrite FILE itself (atomically)."),
    jobs: Optional[int] = typer.Option(None, "-j", "--jobs", min=1, metavar="N",
                                       help="Directory runs: translate N files at a time (default: all cores)."),
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
    diff: bool = typer.Option(False, "--diff", help="Print unified diffs instead of writing; exit 1 when "
                                                     "something would change. Compares with -o OUT when "
                                                     "given, else with the source."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 when something would change "
                                                       "or needs attention (2 on errors)."),
    reports: Optional[List[str]] = typer.Option(None, "--report", metavar="REPORT",
                                                help="Write a report: REPORT.json, .md, .html or .sarif "
                                                     "(repeatable)."),
    fmt: str = typer.Option("text", "--format", metavar="text|sarif",
                            help="sarif: print the findings as a SARIF 2.1.0 log on stdout."),
    quiet: bool = typer.Option(False, "-q", "--quiet",
                               help="Print only findings that need attention; no summary line, no progress."),
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
    if fmt not in ("text", "sarif"):
        raise _fail(f"--format {fmt!r} is not supported; choose text or sarif")
    if diff and check:
        raise _fail("--diff and --check: choose one")
    if (diff or check) and in_place:
        raise _fail(f"--{'diff' if diff else 'check'} writes nothing; do not combine it with --in-place")
    if fmt == "sarif" and diff:
        raise _fail("--format sarif prints the SARIF log on stdout; --diff prints diffs there: choose one")
    from .reports import ReportError, format_of
    try:
        for path in reports or ():
            format_of(path)
    except ReportError as exc:
        raise _fail(str(exc))
    mode = "diff" if diff else "check" if check else "write"
    shapes = list(input_shape or [])
    shape_arg = None if not shapes else (shapes[0] if len(shapes) == 1 else shapes)
    src = Path(file)
    if src.is_dir():
        _translate_tree(file, output, in_place, jobs, json_report, quiet, mode, list(reports or ()), fmt,
                        to=to, layout=layout, input_shape=shape_arg, rules=tuple(rules or ()))
    if mode != "write":
        _translate_one_reported(file, output, quiet, mode, list(reports or ()), fmt, json_report,
                                to=to, layout=layout, input_shape=shape_arg, rules=tuple(rules or ()))
    if fmt == "sarif" and not output and not in_place:
        raise _fail("--format sarif prints the SARIF log on stdout, where the translation of one file goes: "
                    "give -o OUT (or use --report FILE.sarif)")
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
    if reports or fmt == "sarif":
        from . import project
        f = project.report_of_result(result, file, src.name)
        f.output = str(out_path) if out_path is not None and not result.error else None
        _finish_run(project.RunReport(file, f.output, project.Options(to=to, layout=layout, input_shape=shape_arg,
                                                                      rules=tuple(rules or ())),
                                      in_place, 1, files=[f]), None, list(reports or ()), fmt, summary=False)
    _report(result, quiet)
    raise typer.Exit(result.exit_code)


def _translate_tree(source: str, output: Optional[str], in_place: bool, jobs: Optional[int],
                    json_report: Optional[str], quiet: bool, mode: str = "write", reports=(), fmt: str = "text",
                    **options) -> None:
    """Directory mode (translator/project.py): one summary line per file (a progress bar below them
    on a terminal), then the run's summary; --diff prints each file's diff on stdout as it comes."""
    from . import project
    from .progress_bar import ProgressBar
    bar = [ProgressBar(0, enabled=False)]

    def on_plan(total: int) -> None:
        bar[0] = ProgressBar(total, enabled=False if quiet else None)
        bar[0].draw()

    def on_file(f) -> None:
        bar[0].clear()
        if f.diff:
            _write_stdout(f.diff)
        project.print_file(f, quiet)
        bar[0].advance()
    try:
        load_rules(options["rules"])
        report = project.run(source, output, project.Options(**options), jobs=jobs, in_place=in_place,
                             on_file=on_file, mode=mode, on_plan=on_plan)
    except project.UsageError as exc:
        raise _fail(str(exc))
    except RuleError as exc:
        raise _fail(f"bad rule file: {exc}")
    finally:
        bar[0].close()
    _finish_run(report, json_report, reports, fmt)


def _finish_run(report, json_report: Optional[str], reports, fmt: str, summary: bool = True) -> None:
    """Write the reports, print SARIF if asked, the run's summary on stderr; exit with its code."""
    from .reports import render, write_report
    targets = ([json_report] if json_report else []) + list(reports)
    for path in targets:
        try:
            if path == json_report:
                write_atomic(Path(path), report.to_json() + "\n")
            else:
                write_report(report, path)
        except OSError as exc:
            _err(report.summary())
            raise _fail(f"--{'json' if path == json_report else 'report'} {path}: cannot write: "
                        f"{exc.strerror or exc}")
    if fmt == "sarif":
        _write_stdout(render(report, "sarif"))
    if summary:
        _err(report.summary())
        raise typer.Exit(report.exit_code)


def _translate_one_reported(file: str, output: Optional[str], quiet: bool, mode: str, reports, fmt: str,
                            json_report: Optional[str], **options) -> None:
    """One file with --diff / --check / --report / --format sarif: the directory machinery on one task."""
    from . import project
    src = Path(file)
    if not src.is_file():
        raise _fail(f"{file}: no such file" if not src.exists() else f"{file}: not a file")
    out = Path(output) if output else None
    if out is not None and out.is_dir():
        raise _fail(f"-o {output}: is a directory; give a file name")
    if mode == "write" and out is not None and _same_file(out, src):
        raise _fail(f"-o {output} is the input file; pass --in-place to overwrite it")
    try:
        load_rules(options["rules"])
    except RuleError as exc:
        raise _fail(f"bad rule file: {exc}")
    task = project.Task(str(src), file, src.name, None, False, project.Options(**options), mode,
                        str(out) if out is not None else str(src))
    f = project.translate_one(task)
    if f.diff:
        _write_stdout(f.diff)
    project.print_file(f, quiet)
    report = project.RunReport(str(src), str(out) if out else None, project.Options(**options), jobs=1,
                               files=[f], mode=mode)
    _finish_run(report, json_report, reports, fmt)


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


# ---- verify and weights ----------------------------------------------------------------------------

VERIFY_DIRECTIONS = ("torch", "keras")
VERIFY_EPILOG = "Exit codes: 0 equivalent, 1 outputs differ (not equivalent), 2 error (nothing proven)."
_INPUT_HELP = ("Input with the batch dimension, SHAPE[:DTYPE[:LOW-HIGH]], e.g. 1,28,28,1 or "
               "8,40:int64:0-1000; repeat for several inputs. Default: the translated model's input "
               "shapes with batch 2.")


def _check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise _fail(f"{name} {value!r} is not supported; choose one of: {', '.join(choices)}")


def _emit_report(report: dict, json_report: str | None, text: str, quiet: bool) -> None:
    from .verify.report import to_json
    if json_report:
        try:
            write_atomic(Path(json_report), to_json(report) + "\n")
        except OSError as exc:
            _err(f"{PROG}: error: --json {json_report}: cannot write: {exc.strerror or exc}")
            raise typer.Exit(2)
    if quiet:
        keep = [line for line in text.splitlines()
                if line.startswith(("RESULT:", "first ", "no mapped", "errors:", "  [", "    ", "wrote "))]
        text = "\n".join(keep)
    _write_stdout(text + "\n")


@app.command("verify", epilog=VERIFY_EPILOG, no_args_is_help=True)
def verify_command(
    file: str = typer.Argument(..., metavar="FILE", help="Python file with the model code (Keras for --to torch, "
                                                         "PyTorch for --to keras)."),
    to: str = typer.Option(..., "--to", metavar="TARGET", help="Target framework: torch or keras."),
    entry: Optional[str] = typer.Option(None, "--entry", metavar="EXPR",
                                        help="Expression that builds the model in either file, e.g. "
                                             "'build_model(num_classes=10)' or 'MyModel()'. Default: the "
                                             "translated model's builder called without arguments."),
    name: Optional[str] = typer.Option(None, "--name", metavar="MODEL",
                                       help="The translated model the entry builds, when the file holds "
                                            "several and the entry does not name one."),
    inputs: Optional[List[str]] = typer.Option(None, "--input", metavar="SPEC", help=_INPUT_HELP),
    weights: Optional[str] = typer.Option(None, "--weights", metavar="FILE",
                                          help="Weights of the original: Keras (.keras, .weights.h5) for "
                                               "--to torch, a torch state_dict (.safetensors, .pt) for --to "
                                               "keras; default: random initialisation."),
    against: Optional[str] = typer.Option(None, "--against", metavar="TRANSLATED.py",
                                          help="Verify this existing (possibly hand-edited) translation "
                                               "instead of translating afresh."),
    layout: str = typer.Option("native", "--layout", metavar="native|keep", help="Translation layout."),
    rules: Optional[List[str]] = typer.Option(None, "--rules", metavar="DIR", help="Extra rule directory."),
    atol: float = typer.Option(1e-5, "--atol", help="Absolute tolerance, times max(1, output scale)."),
    rtol: float = typer.Option(1e-4, "--rtol", help="Relative tolerance, times |reference value|."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random inputs and weights."),
    device: str = typer.Option("all", "--device", metavar="cpu|cuda|all",
                               help="Where to time: all = CPU, and CUDA when torch sees a GPU."),
    runs: int = typer.Option(20, "--runs", min=1, help="Timed runs per variant (the median is reported)."),
    warmup: int = typer.Option(3, "--warmup", min=0, help="Untimed warm-up runs per variant."),
    compile_: bool = typer.Option(False, "--compile", help="Also time torch.compile (slow to compile)."),
    no_onnx: bool = typer.Option(False, "--no-onnx", help="Skip the ONNX export and onnxruntime checks."),
    no_timing: bool = typer.Option(False, "--no-timing", help="Skip the timings."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="Threads for every framework (default: each one's own)."),
    opset: Optional[int] = typer.Option(None, "--opset", help="ONNX opset (default: each exporter's)."),
    save_onnx: Optional[str] = typer.Option(None, "--save-onnx", metavar="DIR",
                                            help="Keep the two ONNX exports as DIR/keras.onnx, DIR/torch.onnx."),
    timeout: float = typer.Option(600.0, "--timeout", metavar="SECONDS",
                                  help="Time limit for building, running, exporting and timing."),
    json_report: Optional[str] = typer.Option(None, "--json", metavar="REPORT.json",
                                              help="Write the whole report as JSON."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress; print only the verdict and errors."),
) -> None:
    """Prove a translation: build both models, port weights, compare outputs natively and in
    onnxruntime, time each variant.

    User code runs only in a worker process with a time limit. Prints a table; exits 0 only when
    every check passes.
    """
    from .verify.report import render
    from .verify.run import Options, Progress, verify

    _check_choice("--to", to, VERIFY_DIRECTIONS)
    _check_choice("--layout", layout, LAYOUTS)
    _check_choice("--device", device, ("cpu", "cuda", "all"))
    if atol < 0 or rtol < 0:
        raise _fail("--atol and --rtol must not be negative")
    opts = Options(file=file, to=to, entry=entry, name=name, inputs=list(inputs or []), weights=weights,
                   against=against,
                   layout=layout, rules=tuple(rules or ()), atol=atol, rtol=rtol, seed=seed, device=device,
                   runs=runs, warmup=warmup, compile=compile_, onnx=not no_onnx, timing=not no_timing,
                   threads=threads, timeout=timeout, opset=opset, save_onnx=save_onnx)
    report = verify(opts, Progress(False if quiet else None))
    _emit_report(report, json_report, render(report), quiet)
    raise typer.Exit(report["exit_code"])


@app.command("weights", epilog=VERIFY_EPILOG, no_args_is_help=True)
def weights_command(
    src: str = typer.Argument(..., metavar="SRC", help="Trained weights: Keras (.keras, .weights.h5, .h5) for "
                                                       "--to torch, a torch state_dict (.safetensors, .pt) for "
                                                       "--to keras."),
    model: str = typer.Option(..., "--model", metavar="FILE", help="The model source the weights belong to."),
    to: str = typer.Option(..., "--to", metavar="TARGET", help="Target framework: torch or keras."),
    output: str = typer.Option(..., "-o", "--output", metavar="OUT",
                               help="The converted weights: OUT.safetensors or OUT.pt (torch), "
                                    "OUT.weights.h5 (keras)."),
    entry: Optional[str] = typer.Option(None, "--entry", metavar="EXPR",
                                        help="Expression that builds the model (default: its builder "
                                             "called without arguments)."),
    name: Optional[str] = typer.Option(None, "--name", metavar="MODEL",
                                       help="The translated model the entry builds (when ambiguous)."),
    inputs: Optional[List[str]] = typer.Option(None, "--input", metavar="SPEC", help=_INPUT_HELP),
    layout: str = typer.Option("native", "--layout", metavar="native|keep", help="Translation layout."),
    rules: Optional[List[str]] = typer.Option(None, "--rules", metavar="DIR", help="Extra rule directory."),
    atol: float = typer.Option(1e-5, "--atol", help="Tolerance of the check on a random input."),
    rtol: float = typer.Option(1e-4, "--rtol", help="Relative tolerance of that check."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random input."),
    timeout: float = typer.Option(600.0, "--timeout", metavar="SECONDS", help="Time limit."),
    json_report: Optional[str] = typer.Option(None, "--json", metavar="REPORT.json", help="Write a JSON report."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress; print only the result and errors."),
) -> None:
    """Convert a trained weight file for the translated model: Keras -> torch state_dict, or
    torch state_dict -> Keras .weights.h5.

    Builds the original model from FILE (in a worker process), loads SRC (safely: Keras' own
    loader, safetensors, or torch.load(weights_only=True)), translates, ports the weights, checks
    both models agree on a random input, and writes OUT (for Keras, after loading it back into a
    fresh model and checking again).
    """
    from .verify.run import Options, Progress, convert_weights

    _check_choice("--to", to, VERIFY_DIRECTIONS)
    _check_choice("--layout", layout, LAYOUTS)
    opts = Options(file=model, to=to, entry=entry, name=name, inputs=list(inputs or []), weights=src, output=output,
                   layout=layout, rules=tuple(rules or ()), atol=atol, rtol=rtol, seed=seed, timeout=timeout,
                   onnx=False, timing=False)
    report = convert_weights(opts, Progress(False if quiet else None))
    _emit_report(report, json_report, render_weights(report), quiet)
    raise typer.Exit(report["exit_code"])


def render_weights(report: dict) -> str:
    from .verify.report import render, verdict
    saved = report.get("saved")
    lines = []
    if saved:
        lines.append(f"wrote {report['job'].get('output') or saved['path']}: {saved['tensors']} tensors, "
                     f"{saved['parameters']} parameters "
                     f"from {report['job']['weights']}")
        for c in report.get("checks") or []:
            what = ("loaded back from the file into a fresh model" if c.get("check") == "reloaded" else
                    "checked on a random input")
            lines.append(f"  {what} ({', '.join(i['describe'] for i in report['job']['inputs'])}): "
                         f"output {c['output']} max abs error {c['max_abs']:.3g} "
                         f"({'pass' if c['passed'] else 'FAIL'})")
        lines.append("RESULT: " + ("converted; the translated model reproduces the original's outputs"
                                   if report["exit_code"] == 0 else verdict(report)))
        return "\n".join(lines)
    return render(report).replace("fwtranslate verify:", "fwtranslate weights:", 1)


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
