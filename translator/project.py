"""Directory mode: translate every Python file of a tree, in parallel, with one report for the run.

    fwtranslate src/ --to torch -o out/          # out/ mirrors src/
    fwtranslate src/ --to torch --in-place       # rewrite the sources (atomically)
    fwtranslate src/ --to torch --diff [-o out/] # unified diffs, nothing written
    fwtranslate src/ --to torch --check [-o out/]  # nothing written; exit 1 when something would change

--diff and --check compare each translation with what is there now: the file under -o OUT when
given (a committed translation that may be stale; a missing file would change), else the source
itself (what --in-place would rewrite). Both write nothing.

What happens to each `*.py` file under the source directory:
  translated  it holds model code: the translation is written to the mirrored path
  copied      no model code (or empty): copied byte for byte (with --in-place: left alone)
  error       it could not be read (syntax error, binary, not UTF-8, unreadable) or the engine
              failed on it: reported with file and line, nothing is written for it
Other files (data, docs, configuration) are left alone: they are not copied. Hidden directories
(`.git`, `.venv`, ...), `__pycache__` and the output directory itself are skipped.

One bad file never stops the run. Files are translated in a process pool (`jobs` workers; the
order of the report is the sorted order of the paths, whatever the order they finish in).
Each worker writes its own output file atomically (a temporary file beside it, then a rename).

Exit code of a run: 2 if any file had an error, else 1 if any finding needs attention (or, with
--diff / --check, any file would change), else 0.
Like the rest of the translation path, this module imports neither TensorFlow nor torch.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .atomic import write_atomic
from . import __version__
from .findings import Finding

SKIP_DIRS = {"__pycache__", "node_modules", "site-packages"}


@dataclass(frozen=True)
class Options:
    to: str = "torch"
    layout: str = "native"
    input_shape: object = None
    rules: tuple[str, ...] = ()


@dataclass
class FileReport:
    """The outcome for one file (picklable: it comes back from a worker process)."""
    file: str                       # the input path, as shown to the user
    path: str                       # relative to the source directory (posix)
    status: str                     # translated | copied | error
    output: str | None = None       # the file written, None if nothing was written
    changed: bool = False           # the written code differs from the source
    sites: int = 0
    failed_sites: int = 0
    models: list = field(default_factory=list)       # ModelInfo.to_dict() of each translated model
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""
    would_change: bool | None = None   # --diff / --check: the translation differs from what is there
    diff: str = ""                     # --diff: the unified diff

    @property
    def error(self) -> bool:
        return self.status == "error"

    @property
    def needs_attention(self) -> list[Finding]:
        return [f for f in self.findings if f.needs_attention]

    @property
    def exit_code(self) -> int:
        if self.error:
            return 2
        return 1 if self.needs_attention or self.would_change else 0

    @property
    def has_models(self) -> bool:
        return bool(self.models) or self.sites > 0 or self.failed_sites > 0

    def line(self) -> str:
        """The per-file summary line."""
        if self.status == "copied" and self.would_change is not None:
            line = f"{self.file}: no model code"
        elif self.status == "copied":
            line = f"{self.file}: no model code; {'copied unchanged' if self.output else 'left as it is'}"
        else:
            line = self.summary
        if self.would_change is not None and not self.error:
            line += "; would change" if self.would_change else "; up to date"
        return line

    def to_dict(self) -> dict:
        return {"file": self.file, "path": self.path, "status": self.status, "output": self.output,
                "changed": self.changed, "would_change": self.would_change, "exit_code": self.exit_code,
                "summary": self.line(),
                "sites": self.sites, "failed_sites": self.failed_sites,
                "findings": [f.to_dict() for f in self.findings], "models": self.models}


@dataclass
class RunReport:
    source: str
    output: str | None
    options: Options
    in_place: bool = False
    jobs: int = 1
    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    mode: str = "write"                # write | diff | check

    @property
    def exit_code(self) -> int:
        return max((f.exit_code for f in self.files), default=0)

    def totals(self) -> dict:
        ok = [f for f in self.files if not f.error]
        by_code: dict[str, int] = {}
        for f in self.files:
            for finding in f.findings:
                by_code[finding.code] = by_code.get(finding.code, 0) + 1
        return {
            "files": len(self.files),
            "model_files": sum(1 for f in ok if f.has_models),
            "translated": sum(1 for f in self.files if f.status == "translated"),
            "copied": sum(1 for f in self.files if f.status == "copied"),
            "errors": sum(1 for f in self.files if f.error),
            "sites": sum(f.sites for f in ok),
            "failed_sites": sum(f.failed_sites for f in ok),
            "needs_attention": sum(len(f.needs_attention) for f in ok),
            "findings_by_code": dict(sorted(by_code.items())),
        } | ({"would_change": sum(1 for f in self.files if f.would_change)} if self.mode != "write" else {})

    def summary(self) -> str:
        """'converted 41/44 layer and op sites in 12 files; 3 need attention; 1 file could not be read
        (syntax error)'."""
        t = self.totals()
        parts = [f"converted {t['sites']}/{t['sites'] + t['failed_sites']} layer and op sites in "
                 f"{_count(t['model_files'], 'file')}", f"{t['needs_attention']} need attention"]
        if t["copied"]:
            verb = "left as they are" if self.in_place else "copied unchanged" if self.mode == "write" else ""
            parts.append(f"{_count(t['copied'], 'file')} without model code {verb}".rstrip())
        unreadable = [f for f in self.files if f.error and f.findings and f.findings[0].code != "FWT901"]
        crashed = [f for f in self.files if f.error and f not in unreadable]
        if unreadable:
            parts.append(f"{_count(len(unreadable), 'file')} could not be read ({_reasons(unreadable)})")
        if crashed:
            parts.append(f"{_count(len(crashed), 'file')} failed (internal error)")
        if self.mode != "write":
            parts.append(f"{_count(t['would_change'], 'file')} would change (--{self.mode}: nothing written)")
        return "; ".join(parts)

    def to_dict(self) -> dict:
        return {"tool": "fwtranslate", "version": __version__, "source": self.source, "output": self.output,
                "in_place": self.in_place, "mode": self.mode, "to": self.options.to, "layout": self.options.layout,
                "jobs": self.jobs, "seconds": round(self.seconds, 3), "exit_code": self.exit_code,
                "summary": self.summary(), "totals": self.totals(),
                "files": [f.to_dict() for f in self.files]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _reasons(files: list[FileReport]) -> str:
    seen: list[str] = []
    for f in files:
        first = f.findings[0]
        if first.code == "FWT902":
            reason = "syntax error"
        elif first.message.startswith("binary"):
            reason = "binary file"
        elif first.message.startswith("not UTF-8"):
            reason = "not UTF-8"
        else:
            reason = "unreadable"
        if reason not in seen:
            seen.append(reason)
    return ", ".join(seen)


# ---- the files of a tree --------------------------------------------------------------------------------

def python_files(source: Path, skip: Iterable[Path] = ()) -> list[Path]:
    """Every `*.py` file under `source`, sorted, relative to it. Hidden directories, `__pycache__` and
    the directories in `skip` (e.g. the output directory when it lies inside the source) are skipped;
    symbolic links to directories are not followed."""
    skip_real = {os.path.realpath(p) for p in skip}
    out: list[Path] = []
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS
                         and os.path.realpath(os.path.join(root, d)) not in skip_real)
        for name in files:
            if name.endswith(".py") and not name.startswith("."):
                out.append(Path(root, name).relative_to(source))
    return sorted(out, key=lambda p: p.as_posix())


# ---- one file (runs in a worker) --------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    source: str          # the input file
    display: str         # its name in findings and the report
    rel: str             # relative to the source directory (posix)
    output: str | None   # where to write (None: nothing is written, e.g. `--check`)
    in_place: bool
    options: Options
    mode: str = "write"        # write | diff | check
    compare_to: str | None = None   # diff / check: the file the translation is compared with


def translate_one(task: Task) -> FileReport:
    """Translate one file and write its output. Never raises: any failure becomes an error report."""
    from .api import Result, translate_file
    try:
        try:
            result = translate_file(task.source, to=task.options.to, layout=task.options.layout,
                                    input_shape=task.options.input_shape, rules=task.options.rules)
        except OSError as exc:
            result = Result("", [Finding("FWT903", f"cannot read: {exc.strerror or exc}", 0, 0, task.source)],
                            file=task.source, error=True)
        report = report_of_result(result, task.display, task.rel)
        if result.error:
            return report
        original = Path(task.source).read_bytes()
        new = result.code.encode("utf-8")
        if not report.has_models:
            # no model code: the file is copied byte for byte (not libcst's re-rendering of it)
            new = original
        report.changed = new != original
        if task.mode != "write":
            _compare(task, report, new)
            return report
        if task.output is not None and not (task.in_place and not report.changed):
            write_atomic(Path(task.output), new, like=Path(task.source))
            report.output = task.output
        return report
    except Exception as exc:   # an engine bug on this file: report it, keep going with the others
        if os.environ.get("FWTRANSLATE_DEBUG"):
            raise
        finding = Finding("FWT901", f"internal error: {type(exc).__name__}: {exc} "
                          "(set FWTRANSLATE_DEBUG=1 for a traceback)", 0, 0, task.display)
        return FileReport(task.display, task.rel, "error", findings=[finding],
                          summary=f"{task.display}: not translated ({finding.message})")


def report_of_result(result, display: str, rel: str) -> FileReport:
    """The FileReport of one file's translation Result (findings renamed to `display`)."""
    for f in result.findings:
        f.file = display
    result.file = display
    report = FileReport(display, rel, "error" if result.error else "translated",
                        sites=result.sites, failed_sites=result.failed_sites,
                        models=[m.to_dict() for m in result.models], findings=list(result.findings),
                        summary=result.summary())
    if not result.error and not report.has_models:
        report.status = "copied"
    return report


def _compare(task: Task, report: FileReport, new: bytes) -> None:
    """--diff / --check: does `new` differ from the file there now (missing: it would be created)?"""
    import difflib
    target = Path(task.compare_to or task.source)
    try:
        current = target.read_bytes()
    except OSError:
        current = None
    report.would_change = current != new
    if task.mode == "diff" and report.would_change:
        old_text = "" if current is None else current.decode("utf-8", errors="replace")
        new_text = new.decode("utf-8", errors="replace")
        label = task.rel
        report.diff = "".join(difflib.unified_diff(
            old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
            fromfile="/dev/null" if current is None else f"a/{label}", tofile=f"b/{label}"))
        if report.diff and not report.diff.endswith("\n"):
            report.diff += "\n\\ No newline at end of file\n"


class UsageError(ValueError):
    """Bad arguments for a directory run (the CLI turns it into exit code 2)."""


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def plan(source: str | Path, output: str | Path | None, in_place: bool = False,
         options: Options = Options(), mode: str = "write") -> list[Task]:
    """The tasks of a run: one per Python file of `source`, its output mirrored under `output`
    (mode write), or compared with it / with the source (modes diff and check: nothing written)."""
    src = Path(source)
    if not src.is_dir():
        raise UsageError(f"{source}: not a directory")
    if mode != "write":
        if in_place:
            raise UsageError(f"--{mode} writes nothing; do not combine it with --in-place")
        out = Path(output) if output is not None else None
        if out is not None and out.exists() and not out.is_dir():
            raise UsageError(f"-o {output}: is a file; give a directory for a directory run")
        skip = (out,) if out is not None and os.path.realpath(out) != os.path.realpath(src) else ()
        return [Task(str(src / rel), str(src / rel), rel.as_posix(), None, False, options, mode,
                     str((out if out is not None else src) / rel))
                for rel in python_files(src, skip=skip)]
    if in_place and output is not None and os.path.realpath(output) != os.path.realpath(src):
        raise UsageError("--in-place rewrites the sources; do not combine it with a different -o")
    if not in_place:
        if output is None:
            raise UsageError(f"{source} is a directory: give an output directory with -o OUT, or --in-place")
        out = Path(output)
        if out.exists() and not out.is_dir():
            raise UsageError(f"-o {output}: is a file; give a directory for a directory run")
        if os.path.realpath(out) == os.path.realpath(src):
            raise UsageError(f"-o {output} is the source directory; pass --in-place to rewrite the sources")
    out_dir = src if in_place else Path(output)
    tasks = []
    for rel in python_files(src, skip=() if in_place else (out_dir,)):
        path = src / rel
        if in_place and path.is_symlink():
            continue            # never replace a link by a file
        tasks.append(Task(str(path), str(path), rel.as_posix(), str(out_dir / rel), in_place, options))
    return tasks


def run_tasks(tasks: list[Task], jobs: int | None = None) -> Iterator[FileReport]:
    """Translate the tasks, `jobs` at a time in worker processes; yields the reports in task order."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    jobs = min(jobs, len(tasks))
    if jobs <= 1:
        for task in tasks:
            yield translate_one(task)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from .rules import load_rules
    # Load the rules before the pool starts: forked workers inherit them instead of each parsing YAML.
    for rules in {t.options.rules for t in tasks}:
        load_rules(rules)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if sys.platform == "linux" and "fork" in methods else None)
    # Small chunks keep the workers balanced (files differ in size); a few per worker cut the IPC.
    chunksize = max(1, min(32, len(tasks) // (jobs * 8)))
    done = 0
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            for report in pool.map(translate_one, tasks, chunksize=chunksize):
                done += 1
                yield report
    except BrokenProcessPool as exc:   # a worker died (killed, out of memory): report the rest
        for task in tasks[done:]:
            finding = Finding("FWT901", f"internal error: worker process died ({exc})", 0, 0, task.display)
            yield FileReport(task.display, task.rel, "error", findings=[finding],
                             summary=f"{task.display}: not translated ({finding.message})")


def run(source: str | Path, output: str | Path | None, options: Options = Options(), jobs: int | None = None,
        in_place: bool = False, on_file: Callable[[FileReport], None] | None = None, mode: str = "write",
        on_plan: Callable[[int], None] | None = None) -> RunReport:
    """Translate the tree `source` into `output` (or in place; or compare, modes diff / check);
    `on_plan` gets the number of files first, `on_file` sees each report as it comes."""
    import time
    start = time.perf_counter()
    tasks = plan(source, output, in_place, options, mode)
    if on_plan is not None:
        on_plan(len(tasks))
    jobs = default_jobs() if jobs is None else max(1, jobs)
    report = RunReport(str(source), None if in_place or output is None else str(output), options, in_place, jobs,
                       mode=mode)
    for file_report in run_tasks(tasks, jobs):
        report.files.append(file_report)
        if on_file is not None:
            on_file(file_report)
    report.seconds = time.perf_counter() - start
    return report


def print_file(report: FileReport, quiet: bool = False, stream=None) -> None:
    """Findings (file:line:col) then the per-file line, on stderr; quiet: only what needs attention."""
    stream = stream or sys.stderr
    for finding in report.findings:
        if quiet and not (finding.needs_attention or report.error):
            continue
        if finding.code == "FWT904" and report.status == "copied":
            continue            # "no model code" is said by the file's line
        print(finding.format(), file=stream)
    if not quiet or report.error or report.would_change:
        print(report.line(), file=stream)
