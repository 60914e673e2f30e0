"""The wheel `python -m build` makes is the whole of runledger: every module, the
templates, the static assets and the demo jobs. Installed into a fresh virtualenv outside
the repository, its `runledger` lists every subcommand, migrates a fresh SQLite file and
serves the views and API.

Slow on purpose (a build and an install whose dependencies come from the index; about a
minute, mostly pip): built and installed once per session, in temporary directories, so
nothing is left in the repository.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.package.processes import (
    ROOT,
    free_port,
    http_get,
    run,
    started,
    user_env,
    wait_until,
)

pytestmark = pytest.mark.timeout(600)

PACKAGES = ("ledger", "projections", "workers", "web", "runledger")
DATA_DIRS = ("web/templates", "web/static")
DEMO_JOBS = "runledger/demo/jobs.py"


@pytest.fixture(scope="session")
def source_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a clone holds (with the files not committed yet), copied out of the
    repository, so the build leaves nothing there and reuses no earlier build/."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    tree = tmp_path_factory.mktemp("source")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # not one deleted since its last commit
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, tree / name)
    return tree


@pytest.fixture(scope="session")
def wheel(source_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), "."]
    built = run(build, user_env(), source_tree, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = out.glob("*.whl")
    return found


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the repository with the wheel installed.

    It is made without pip, which this virtualenv's pip then installs into (`--python`):
    bootstrapping a pip of its own would double the time. Dependencies come from the
    index, through pip's cache."""
    path = tmp_path_factory.mktemp("venv")
    assert not path.is_relative_to(ROOT)
    made = run([sys.executable, "-m", "venv", "--without-pip", str(path)], user_env(), path)
    assert made.returncode == 0, made.stderr
    python = path / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    installed = run([*pip, "install", "--no-input", str(wheel)], user_env(), path, timeout=480)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    return path


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory outside the repository."""
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


def _source_files(tree: Path) -> set[str]:
    modules = {path for package in PACKAGES for path in (tree / package).rglob("*.py")}
    data = {path for folder in DATA_DIRS for path in (tree / folder).rglob("*") if path.is_file()}
    return {
        path.relative_to(tree).as_posix()
        for path in modules | data
        if "__pycache__" not in path.parts
    }


def test_the_wheel_holds_every_module_template_static_asset_and_the_demo_jobs(
    wheel: Path, source_tree: Path
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    expected = _source_files(source_tree)
    missing = sorted(expected - names)
    assert not missing, f"the wheel lacks {len(missing)} files: {missing[:20]}"
    for folder in DATA_DIRS:
        assert any(name.startswith(f"{folder}/") for name in names), f"no {folder} in the wheel"
    assert DEMO_JOBS in names
    tops = {name.split("/", 1)[0] for name in names}
    stray = sorted(t for t in tops if t not in PACKAGES and not t.endswith(".dist-info"))
    assert not stray, f"the wheel would install {stray} beside runledger's packages"
    assert re.search(r"^runledger\s*=\s*runledger\.cli:main$", scripts, re.M), scripts


def test_the_installed_packages_are_the_wheels_not_the_repositorys(
    venv: Path, elsewhere: Path
) -> None:
    code = (
        "import importlib, json, sys; "
        f"names = {[*PACKAGES, 'runledger.demo.jobs']!r}; "
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))"
    )
    found = run([str(venv / "bin" / "python"), "-c", code], user_env(), elsewhere)
    assert found.returncode == 0, found.stderr
    for name, where in json.loads(found.stdout).items():
        assert Path(where).is_relative_to(venv), f"{name} comes from {where}"


def test_runledger_help_lists_every_subcommand(venv: Path, elsewhere: Path) -> None:
    from runledger.cli import SUBCOMMANDS

    helped = run([str(venv / "bin" / "runledger"), "--help"], user_env(), elsewhere)
    assert helped.returncode == 0, helped.stderr
    listed = set(re.findall(r"^ {4}(\w+)(?: |$)", helped.stdout, re.M))
    missing = sorted(set(SUBCOMMANDS) - listed)
    assert not missing, f"`runledger --help` does not list {missing}:\n{helped.stdout}"


def test_runledger_migrate_creates_the_tables_in_a_fresh_sqlite_file(
    venv: Path, elsewhere: Path
) -> None:
    database = elsewhere / "fresh.db"
    env = user_env(RUNLEDGER_DATABASE_URL=f"sqlite:///{database}")
    for _ in range(2):  # and again: migrate is safe to repeat
        migrated = run([str(venv / "bin" / "runledger"), "migrate"], env, elsewhere)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        assert f"migrated sqlite:///{database}" in migrated.stdout
    with sqlite3.connect(database) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"runs_index", "projection_tracking", "web_tokens"} <= tables, tables


def test_runledger_web_serves_health_the_api_pages_and_assets_from_the_wheel(
    venv: Path, elsewhere: Path, redis_server: str, source_tree: Path
) -> None:
    runledger = str(venv / "bin" / "runledger")
    env = user_env(
        RUNLEDGER_DATABASE_URL=f"sqlite:///{elsewhere / 'runledger.db'}",
        RUNLEDGER_REDIS_URL=redis_server,
        RUNLEDGER_SECRET_KEY=secrets.token_urlsafe(32),
    )
    migrated = run([runledger, "migrate"], env, elsewhere)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [runledger, "web", "--host", "127.0.0.1", "--port", str(port)]
    with started(argv, env, elsewhere, elsewhere / "web.log") as web:
        status, _, body = wait_until(lambda: http_get(f"{base}/healthz"), "/healthz", web)
        assert status == 200, body
        assert json.loads(body)["status"] == "ok", body  # the database and Redis answer
        status, _, body = http_get(f"{base}/api/openapi.json") or (0, {}, b"")
        assert status == 200, body
        assert "/api/runs" in json.loads(body)["paths"]
        status, headers, body = http_get(f"{base}/login") or (0, {}, b"")
        assert status == 200, body  # rendered from the wheel's templates
        assert headers["content-type"].startswith("text/html")
        for asset in sorted((source_tree / "web" / "static").rglob("*")):
            if asset.is_file():
                name = asset.relative_to(source_tree / "web" / "static").as_posix()
                status, _, body = http_get(f"{base}/static/{name}") or (0, {}, b"")
                assert (status, body) == (200, asset.read_bytes()), f"/static/{name}: {status}"
        web.stop(timeout=10)
        # Stopped, not killed: uvicorn re-raises the SIGTERM it handled once it has shut down.
        assert web.popen.returncode in (0, -signal.SIGTERM), web.describe()
