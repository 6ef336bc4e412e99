"""Translation throughput, next to libcst's raw parse speed, and the pre-commit hook's cold start.

    python benchmarks/translate_speed.py                  # >= 50,000 lines, 1 job and all cores
    python benchmarks/translate_speed.py --profile        # + cProfile of the serial translation
    python benchmarks/translate_speed.py --lines 200000 --jobs 8

The corpus (written to a temporary directory, as a tree) mixes
  model code   every Keras model file shipped here (fixtures/**/*.keras.py, fixtures/legacy_project,
               tests/sources, examples), repeated until it is about a quarter of the lines
  plain Python the running interpreter's standard library sources (on disk, sorted by path), up to
               the requested number of lines
Files that libcst cannot parse are left out, so that both columns see the same files.

Measured:
  parse/translate  libcst.parse_module, then translator.api.translate_source, on each file in turn, in
                   this process (rules loaded first), CPU time, best of --repeat per file: the ratio of
                   the two is honest on a loaded machine (both see the same load). Reported for the Keras
                   model files, the plain Python files and the whole corpus, and for the torch -> Keras
                   direction on the PyTorch model files shipped here (repeated to --torch-lines)
  dir run, 1 job   `fwtranslate CORPUS -o OUT --jobs 1`'s code path (translator.project.run): reading,
                   translating and writing every file
  dir run, N jobs  the same with N worker processes (default: all cores)
  hook cold start  a subprocess running the fwtranslate-check hook on one small model file
Targets (issue 6): translate >= 50% of raw parse speed per core; near-linear scaling with the
cores; hook cold start < 0.5 s. Directory runs and the hook are timed wall-clock, with CPU seconds
beside them because a loaded machine stretches wall time. Nothing here asserts: it prints.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import libcst  # noqa: E402

from translator import project  # noqa: E402
from translator.api import translate_source  # noqa: E402
from translator.rules import _load_rules, load_rules  # noqa: E402

HOOK_FILE = ROOT / "fixtures" / "legacy_project" / "models" / "cnn.py"


def model_files() -> list[Path]:
    files = sorted(ROOT.glob("fixtures/**/*.keras.py"))
    files += sorted((ROOT / "fixtures" / "legacy_project").rglob("*.py"))
    files += sorted((ROOT / "tests" / "sources").glob("*.py")) + sorted((ROOT / "examples").glob("*.py"))
    return files


def stdlib_files() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__"}
    out = []
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith("."))
        out += [Path(root, f) for f in sorted(files) if f.endswith(".py")]
    return out


def _parses(text: str) -> bool:
    try:
        libcst.parse_module(text)
        return True
    except Exception:
        return False


def build_corpus(directory: Path, lines: int) -> list[tuple[Path, str]]:
    """Write the corpus under `directory`; return [(path, text)]."""
    corpus: list[tuple[str, str]] = []
    models = [(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")) for p in model_files()]
    models = [(rel, text) for rel, text in models if _parses(text)]
    model_lines = sum(text.count("\n") for _, text in models)
    copies = max(1, round(lines / 4 / max(model_lines, 1)))
    for i in range(copies):
        corpus += [(f"models/copy{i:02d}/{rel}", text) for rel, text in models]
    total = model_lines * copies
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in stdlib_files():
        if total >= lines:
            break
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if not _parses(text):
            continue
        corpus.append((f"stdlib/{path.relative_to(stdlib).as_posix()}", text))
        total += text.count("\n")
    out = []
    for rel, text in corpus:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append((path, text))
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and its finished children)."""
    cpu0, child0, t0 = _cpu(), _children_cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, (_cpu() - cpu0) + (_children_cpu() - child0)


def best_of(repeat: int, fn) -> tuple[float, float]:
    runs = [timed(fn) for _ in range(repeat)]
    return min(runs)


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_scaling(jobs: int, n: int = 20_000_000) -> float:
    """Speed-up of `jobs` processes over one on a pure-Python CPU loop of the same total work: what this
    machine gives right now (shared or throttled cores, other processes), to read the run's scaling by."""
    from concurrent.futures import ProcessPoolExecutor
    start = time.perf_counter()
    _burn(n)
    serial = time.perf_counter() - start
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_burn, [1000] * jobs))          # workers started before the clock
        start = time.perf_counter()
        list(pool.map(_burn, [n // jobs] * jobs))
        parallel = time.perf_counter() - start
    return serial / parallel


def hook_command() -> list[str]:
    script = Path(sys.executable).with_name("fwtranslate-check")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "translator.hooks", "check"]


def cold_start(command: list[str], runs: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    for _ in range(runs):
        child0, t0 = _children_cpu(), time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - child0)
    return walls, cpus


def torch_files() -> list[Path]:
    """The PyTorch model sources shipped here (the torch -> Keras direction's inputs)."""
    return sorted(ROOT.glob("fixtures/torch_to_keras/*.torch.py"))


def torch_corpus(lines: int) -> list[tuple[Path, str]]:
    files = [(p, p.read_text(encoding="utf-8")) for p in torch_files()]
    files = [(p, t) for p, t in files if _parses(t)]
    size = sum(t.count("\n") for _, t in files)
    return files * max(1, round(lines / max(size, 1)))


def side_by_side(items: list[tuple[str, Path, str]], to: str, repeat: int, on_result=None) -> dict:
    """CPU seconds of libcst.parse_module and of translate_source on each file, one right after the
    other (so that both see the same load), best of `repeat` per file; summed by kind."""
    best: dict[int, list[float]] = {}
    for round_ in range(repeat):
        for i, (kind, path, text) in enumerate(items):
            t0 = time.process_time()
            libcst.parse_module(text)
            t1 = time.process_time()
            result = translate_source(text, to=to, filename=str(path))
            t2 = time.process_time()
            if round_ == 0 and on_result is not None:
                on_result(result)
            old = best.get(i)
            best[i] = [t1 - t0, t2 - t1] if old is None else [min(old[0], t1 - t0), min(old[1], t2 - t1)]
    out: dict = {}
    for i, (kind, _, text) in enumerate(items):
        for key in (kind, "all"):
            entry = out.setdefault(key, [0, 0.0, 0.0])
            entry[0] += text.count("\n")
            entry[1] += best[i][0]
            entry[2] += best[i][1]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000, help="corpus size in lines (default 50,000)")
    parser.add_argument("--torch-lines", type=int, default=5_000,
                        help="lines of PyTorch model files for the torch -> Keras direction (default 5,000)")
    parser.add_argument("--jobs", type=int, default=project.default_jobs(), help="worker processes (default: all cores)")
    parser.add_argument("--repeat", type=int, default=3, help="parse/translate: best of N per file (default 3)")
    parser.add_argument("--hook-runs", type=int, default=7, help="cold starts to time")
    parser.add_argument("--profile", action="store_true", help="cProfile the serial translation")
    parser.add_argument("--keep", metavar="DIR", help="build the corpus in DIR and keep it")
    args = parser.parse_args()

    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="fwt-bench-"))
    try:
        corpus_dir = workdir / "corpus"
        if corpus_dir.exists():
            shutil.rmtree(corpus_dir)
        corpus = build_corpus(corpus_dir, args.lines)
        lines = sum(text.count("\n") for _, text in corpus)
        kinds = ["model" if "/models/" in path.as_posix() else "plain" for path, _ in corpus]
        model_part = sum(text.count("\n") for kind, (_, text) in zip(kinds, corpus) if kind == "model")
        print(f"corpus: {len(corpus)} files, {lines} lines ({model_part} in Keras model files, "
              f"{lines - model_part} plain Python from {Path(sysconfig.get_paths()['stdlib'])})")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.jobs} jobs, "
              f"load average {os.getloadavg()[0]:.1f} at start")

        t_rules = timed(lambda: _load_rules.__wrapped__(()))      # uncached
        load_rules()    # cached from here on (the directory run's workers inherit it)
        findings: dict[str, int] = {}

        def count(result):
            for f in result.findings:
                findings[f.code] = findings.get(f.code, 0) + 1

        items = [(kind, path, text) for kind, (path, text) in zip(kinds, corpus)]
        k2t = side_by_side(items, "torch", args.repeat, count)
        t2k_files = torch_corpus(args.torch_lines)
        t2k = side_by_side([("torch model", p, t) for p, t in t2k_files], "keras", args.repeat)

        print(f"\nparse vs translate, in one process, CPU time, each file parsed then translated right after "
              f"(best of {args.repeat} per file):")
        print(f"  {'':34} {'lines':>7} {'parse lines/s':>14} {'translate lines/s':>18} {'ratio':>7}")

        def ratio_row(label, entry):
            n, p, t = entry
            print(f"  {label:34} {n:7d} {n / p:14.0f} {n / t:18.0f} {p / t:7.1%}")
        ratio_row("Keras -> torch, Keras model files", k2t["model"])
        ratio_row("Keras -> torch, plain Python", k2t["plain"])
        ratio_row("Keras -> torch, whole corpus", k2t["all"])
        ratio_row("torch -> Keras, torch model files", t2k["all"])
        print(f"  (target: translate >= 50% of raw parse speed per core)")
        print(f"  rule loading (once per process): {t_rules[0] * 1000:.0f} ms")
        print(f"  findings over the corpus (Keras -> torch): {dict(sorted(findings.items()))}")

        out1, outn = workdir / "out1", workdir / "outn"
        reports = {}

        def dir_run(out: Path, jobs: int):
            def go():
                if out.exists():
                    shutil.rmtree(out)
                reports[jobs] = project.run(corpus_dir, out, jobs=jobs)
            return go

        run1 = best_of(1, dir_run(out1, 1))
        runn = best_of(1, dir_run(outn, args.jobs))

        def row(name, t, note=""):
            wall, cpu = t
            print(f"  {name:22} {wall:8.2f} s  {lines / wall:10.0f} lines/s   (CPU {cpu:6.2f} s, "
                  f"{lines / max(cpu, 1e-9):8.0f} lines/CPU-s){note}")

        print(f"\ndirectory run over the whole corpus (`fwtranslate CORPUS -o OUT --jobs N`: read, translate, "
              f"write; wall-clock, CPU of this process and its workers beside it):")
        row("1 job", run1)
        speedup = run1[0] / runn[0]
        row(f"{args.jobs} jobs", runn,
            f"   -> {speedup:.2f}x the 1-job run on {args.jobs} cores ({speedup / args.jobs:.0%} of linear)")
        machine = machine_scaling(args.jobs)
        print(f"  machine baseline: a pure-Python CPU loop runs {machine:.2f}x faster in {args.jobs} processes "
              f"than in one, right now ({speedup / machine:.0%} of that is what the run reached)")
        print(f"  run summary: {reports[args.jobs].summary()}")

        command = hook_command()
        hook_walls, hook_cpus = cold_start(command + [str(HOOK_FILE)], args.hook_runs)
        base_walls, base_cpus = cold_start([sys.executable, "-c", "pass"], args.hook_runs)
        print(f"\nhook cold start ({' '.join(Path(c).name for c in command)} on "
              f"{HOOK_FILE.relative_to(ROOT)}, {args.hook_runs} runs; target < 0.5 s):")
        print(f"  wall: min {min(hook_walls):.3f} s, median {statistics.median(hook_walls):.3f} s;  "
              f"CPU: median {statistics.median(hook_cpus):.3f} s")
        print(f"  (bare interpreter start: wall median {statistics.median(base_walls):.3f} s, "
              f"CPU {statistics.median(base_cpus):.3f} s)")
        print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (other processes stretch wall times)")

        if args.profile:
            import cProfile
            import pstats
            profiler = cProfile.Profile()
            profiler.enable()
            for _, path, text in items:
                translate_source(text, filename=str(path))
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stdout)
            print("\nprofile of the serial translation, by own time:")
            stats.sort_stats("tottime").print_stats(25)
            print("by cumulative time:")
            stats.sort_stats("cumulative").print_stats(40)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
