"""The pre-commit hooks of .pre-commit-hooks.yaml, end to end with the real `pre-commit` package.

`pre-commit try-repo` clones a repository at a commit: the working tree of this repository (tracked
files and untracked ones that git does not ignore) is copied to a temporary directory and committed
there, and the hooks are taken from that copy. pre-commit installs the package into its own
environment (`language: python`), which fetches the dependencies (libcst, typer, pyyaml) from the
package index like any Python hook; where that is not reachable the tests that need it skip.
The hook functions themselves are also run in-process (no network, no pre-commit).
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from translator import hooks
from translator.api import translate_source

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "fixtures" / "legacy_project"

BAD = """\
import keras
from keras import layers

model = keras.Sequential([
    keras.Input(shape=(16,)),
    layers.Dense(8),
    layers.FancyLayer(3),
])
"""
UTILS = "def add(a, b):\n    return a + b\n"

NETWORK_ERRORS = ("No matching distribution", "Could not find a version", "NewConnectionError",
                  "Temporary failure in name resolution", "Network is unreachable", "ConnectionError",
                  "Failed to establish a new connection")

requires_tools = pytest.mark.skipif(
    shutil.which("git") is None or importlib.util.find_spec("pre_commit") is None,
    reason="needs git and the pre-commit package (pip install -e '.[dev]')")


def _env(home: Path) -> dict:
    env = dict(os.environ)
    env.update(PRE_COMMIT_HOME=str(home), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", GIT_CONFIG_NOSYSTEM="1",
               PRE_COMMIT_COLOR="never", NO_COLOR="1")
    env.pop("PYTHONPATH", None)     # the hooks run from pre-commit's own environment
    return env


def git(cwd: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def pre_commit(cwd: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    output = proc.stdout + proc.stderr
    if "An unexpected error has occurred" in output or "CalledProcessError" in output:
        if any(marker in output for marker in NETWORK_ERRORS):
            pytest.skip("pre-commit could not install the hook environment: the package index is not "
                        "reachable\n" + output[-2000:])
    return proc


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """This working tree, committed in a temporary repository (what try-repo and `rev:` point at)."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    base = tmp_path_factory.mktemp("hookrepo")
    env = _env(base / "pre-commit-home")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    repo = base / "fwtranslate"
    for rel in filter(None, listed):
        source = ROOT / rel
        if source.is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / rel)
    git(repo, "init", "-q", env=env)
    git(repo, "add", "-A", env=env)
    assert git(repo, "commit", "-q", "-m", "snapshot", env=env).returncode == 0
    sha = git(repo, "rev-parse", "HEAD", env=env).stdout.strip()
    return repo, sha, env


def _user_repo(path: Path, env: dict) -> Path:
    (path / "models").mkdir(parents=True)
    shutil.copy(LEGACY / "models" / "cnn.py", path / "models" / "cnn.py")
    (path / "models" / "bad.py").write_text(BAD)
    (path / "utils.py").write_text(UTILS)
    git(path, "init", "-q", env=env)
    git(path, "add", "-A", env=env)
    return path


@requires_tools
def test_try_repo_runs_both_hooks(hook_repo, tmp_path):
    repo, _, env = hook_repo
    user = _user_repo(tmp_path / "user", env)
    proc = pre_commit(user, "try-repo", str(repo), "--files", "models/cnn.py", "models/bad.py", "utils.py",
                      env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    check, sync = out.split("fwtranslate sync")
    assert re.search(r"fwtranslate check \(model code translatable\)\.+Failed", check), out
    assert ("models/bad.py:7:0: FWT101 [error] no rule for layer 'keras.layers.FancyLayer'; "
            "the model was left as it was") in check
    assert "models/cnn.py" not in check                    # translatable: nothing to say
    assert "1 finding in 1 file cannot be translated automatically" in check
    assert re.search(r"\(translated counterparts up to date\)\.+Failed", sync), out
    assert "wrote translated/models/cnn.py (was missing)" in sync
    assert "wrote translated/models/bad.py (was missing)" in sync
    written = sorted(p.relative_to(user).as_posix() for p in (user / "translated").rglob("*") if p.is_file())
    assert written == ["translated/models/bad.py", "translated/models/cnn.py"]     # utils.py: no model
    for rel in ("models/cnn.py", "models/bad.py"):
        expected = translate_source((user / rel).read_text(), filename=rel).code
        assert (user / "translated" / rel).read_text() == expected


@requires_tools
def test_commit_flow_with_installed_hooks(hook_repo, tmp_path):
    """A project that uses the hooks: `pre-commit install`, then real `git commit`s."""
    repo, sha, env = hook_repo
    user = tmp_path / "user"
    user.mkdir()
    git(user, "init", "-q", env=env)
    (user / ".pre-commit-config.yaml").write_text(
        f"repos:\n"
        f"-   repo: {repo}\n"
        f"    rev: {sha}\n"
        f"    hooks:\n"
        f"    -   id: fwtranslate-check\n"
        f"    -   id: fwtranslate-sync\n"
        f"        args: [--to, torch, --out, translated/]\n"
        f"        exclude: ^translated/\n")
    assert pre_commit(user, "install", env=env).returncode == 0
    (user / "models").mkdir()
    shutil.copy(LEGACY / "models" / "cnn.py", user / "models" / "cnn.py")
    (user / "utils.py").write_text(UTILS)
    git(user, "add", "-A", env=env)

    def commit(message: str) -> subprocess.CompletedProcess:
        proc = git(user, "commit", "-m", message, env=env)
        out = proc.stdout + proc.stderr
        if proc.returncode and any(marker in out for marker in NETWORK_ERRORS):
            pytest.skip("pre-commit could not install the hook environment (package index not reachable)")
        return proc

    first = commit("add the model")
    assert first.returncode != 0, first.stdout                      # the counterpart was missing
    assert "wrote translated/models/cnn.py (was missing)" in first.stdout + first.stderr
    assert git(user, "log", "--oneline", env=env).returncode != 0    # nothing committed yet
    git(user, "add", "translated", env=env)
    second = commit("add the model")
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"fwtranslate sync \(translated counterparts up to date\)\.+Passed",
                     second.stdout + second.stderr)

    # the model changes: its counterpart is stale until regenerated and added
    cnn = user / "models" / "cnn.py"
    cnn.write_text(cnn.read_text().replace("Dense(64, ", "Dense(48, "))
    git(user, "add", "models/cnn.py", env=env)
    third = commit("smaller head")
    assert third.returncode != 0
    assert "wrote translated/models/cnn.py (was stale)" in third.stdout + third.stderr
    assert "nn.Linear(4608, 48)" in (user / "translated/models/cnn.py").read_text()
    git(user, "add", "translated", env=env)
    assert commit("smaller head").returncode == 0

    # untranslatable model code is refused, and the commit does not happen
    (user / "models" / "bad.py").write_text(BAD)
    git(user, "add", "models/bad.py", env=env)
    before = git(user, "rev-parse", "HEAD", env=env).stdout
    fourth = commit("fancy layer")
    assert fourth.returncode != 0
    assert "models/bad.py:7:0: FWT101 [error]" in fourth.stdout + fourth.stderr
    assert git(user, "rev-parse", "HEAD", env=env).stdout == before


# ---- the hook functions in-process (no pre-commit, no network) -------------------------------------------------

def test_check_hook(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.py").write_text((LEGACY / "models" / "cnn.py").read_text())
    (tmp_path / "bad.py").write_text(BAD)
    train = (LEGACY / "train.py").read_text().replace("model.fit(x, y,", "model.fit(zip(x, y),")
    (tmp_path / "train.py").write_text(train)                      # fit on a generator: FWT104 warning
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    assert hooks.check_main(["good.py", "train.py"]) == 0          # FWT104 warnings do not fail...
    assert "train.py:31:0: FWT104 [warning]" in capsys.readouterr().out
    assert hooks.check_main(["--strict", "train.py"]) == 1         # ...unless --strict
    capsys.readouterr()
    assert hooks.check_main(["good.py", "bad.py", "broken.py"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("bad.py:7:0: FWT101 [error]")
    assert out[1].startswith("broken.py:1:6: FWT902 [error] syntax error")
    assert out[2].startswith("fwtranslate-check: 2 findings in 2 files cannot be translated automatically")
    with pytest.raises(SystemExit) as exc:
        hooks.check_main(["--to", "jax", "good.py"])
    assert exc.value.code == 2


def test_sync_hook(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src" / "models").mkdir(parents=True)
    model = tmp_path / "src" / "models" / "cnn.py"
    model.write_text((LEGACY / "models" / "cnn.py").read_text())
    (tmp_path / "src" / "utils.py").write_text(UTILS)
    args = ["--to", "torch", "--out", "translated", "--root", "src"]
    files = ["src/models/cnn.py", "src/utils.py"]
    assert hooks.sync_main(args + files) == 1
    assert "wrote translated/models/cnn.py (was missing)" in capsys.readouterr().out
    target = tmp_path / "translated" / "models" / "cnn.py"
    assert target.read_text() == translate_source(model.read_text()).code
    assert not (tmp_path / "translated" / "utils.py").exists()
    assert hooks.sync_main(args + files + ["translated/models/cnn.py"]) == 0      # up to date
    assert capsys.readouterr().out == ""
    model.write_text(model.read_text().replace("Dense(64, ", "Dense(48, "))
    assert hooks.sync_main(args + files) == 1
    assert "(was stale)" in capsys.readouterr().out
    assert "nn.Linear(4608, 48)" in target.read_text()
    assert hooks.sync_main(args + files) == 0
    # a file whose model code is gone keeps its existing counterpart in sync (a copy of it)
    model.write_text(UTILS)
    assert hooks.sync_main(args + files) == 1
    assert target.read_text() == UTILS
    # a file that does not parse cannot be regenerated: reported, fails
    model.write_text("def f(:\n")
    assert hooks.sync_main(args + files) == 1
    assert "FWT902" in capsys.readouterr().out


def test_wheel_ships_the_package_and_the_rules(tmp_path):
    """A non-editable install (pre-commit's hook environment) must hold the rules and every module."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("needs setuptools")
    build = tmp_path / "src"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info",
                                                               "__pycache__", ".pytest_cache", ".hypothesis"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(build)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheel = next((tmp_path / "dist").glob("fwtranslate-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "translator").rglob("*.py")}
    rules = {f"translator/_rules/{p.name}" for p in (ROOT / "rules").glob("*.yaml")}
    assert modules - names == set()
    assert rules and rules - names == set()
    entry_points = zipfile.ZipFile(wheel).read("fwtranslate-0.1.0.dist-info/entry_points.txt").decode()
    assert "fwtranslate-check = translator.hooks:check_main" in entry_points
    assert "fwtranslate-sync = translator.hooks:sync_main" in entry_points
