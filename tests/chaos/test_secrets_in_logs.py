"""Secrets are never logged, and a database URL's password never shows in an error.

- A full `runledger demo --check` (its two workers, the orphan's worker, the projector,
  `runledger web`, Redis), during which a browser signs in with the demo's one-time link,
  browses and logs out, and a wrong token is tried: every `D/*.log` and the demo's own
  stderr hold neither the demo's token (nor its secret part), its secret key, its
  login link's code nor the session cookie; its stdout holds the code once, on the
  "sign in" line, which is where the demo shows it to the newcomer, and nothing else.
- A PostgreSQL-backed run whose URL carries a password (`migrate`, `token create`,
  `enqueue`, a burst worker, the projector, `runledger web` with an API client and a
  browser, `reconcile`, `runs list/show`, `token list`) and its error paths (a database
  that does not exist, an unreachable port, a malformed port, no host, no scheme, the
  web app over an unreachable database): 0 hits for the password in every output, and
  each error names the URL as `DatabaseSettings.display()` shows it (or, for a URL that
  does not parse, with `***` for the password).

The chaos runs (tests/chaos/test_worker_chaos.py) scan their own logs for their database
password with the same `scan_for_secrets` (tests/chaos/secrets_scan.py), since only they
know where those logs are and what secrets they used. Each test prints its figures.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from ledger import DatabaseSettings
from ledger.errors import SettingsError
from tests.chaos.secrets_scan import describe_scan, scan_for_secrets
from tests.chaos.security_site import csrf_of
from tests.conftest import POSTGRES_URL, postgres_schema
from tests.e2e.cli import ROOT, RUNLEDGER, cli_env, wait_for
from tests.web.server import free_port

PASSWORD = "S3cr3t-pw-123"
_LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/login/link/([A-Za-z0-9_-]+)")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _print(line: str) -> None:
    print(f"\n{line}")


# -- the demo --------------------------------------------------------------------------------


def _browse_with_the_link(base: str, code: str) -> str:
    """Signs in with the one-time link, browses, tries a wrong token, logs out; returns the
    session cookie the browser held."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=15) as browser:
        path = f"/login/link/{code}"
        signed_in = browser.post(path, data={"csrf": csrf_of(browser.get(path).text)})
        assert signed_in.status_code == 303, signed_in.text[:300]
        session = browser.cookies["runledger_session"]
        page = browser.get("/operations")
        assert page.status_code == 200
        assert browser.get("/operations/live").status_code == 200
        assert browser.get("/audit").status_code == 200
        assert browser.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    with httpx.Client(base_url=base, follow_redirects=False, timeout=15) as stranger:
        wrong = "rlt_tok_0123456789_" + secrets.token_urlsafe(32)
        form = stranger.get("/login")
        refused = stranger.post("/login", data={"csrf": csrf_of(form.text), "token": wrong})
        assert refused.status_code == 401
    return str(session)


def test_a_full_demo_run_logs_no_token_secret_key_login_code_or_session(tmp_path: Path) -> None:
    directory, report_path = tmp_path / "demo", tmp_path / "report.json"
    out_path, err_path = tmp_path / "demo.stdout", tmp_path / "demo.stderr"
    argv = [
        RUNLEDGER,
        "demo",
        "--check",
        "--dir",
        str(directory),
        "--report",
        str(report_path),
        "--port",
        str(free_port()),
    ]
    with out_path.open("w") as out, err_path.open("w") as err:
        # Wide, so the console never folds the sign-in link across lines.
        demo = subprocess.Popen(
            argv, env=cli_env(COLUMNS="400"), stdout=out, stderr=err, text=True, cwd=ROOT
        )
    try:
        found = wait_for(lambda: _LINK.search(out_path.read_text()), 60, "the sign-in link")
        base, code = found.group(1), found.group(2)
        wait_for(lambda: _answers(f"{base}/healthz"), 30, "the demo's dashboard")
        session = _browse_with_the_link(base, code)
        demo.wait(timeout=200)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, out_path.read_text()[-3000:] + err_path.read_text()[-3000:]
    report = json.loads(report_path.read_text())
    assert report["login_code"] == code
    found_secrets = {
        "token": report["token"],
        "token's secret": report["token"].split("_", 3)[3],
        "secret key": report["secret_key"],
        "login code": code,
        "session cookie": session,
    }
    logs = sorted(directory.glob("*.log"))
    assert {p.stem for p in logs} >= {"web", "projector", "worker-1", "worker-2", "redis"}
    result = scan_for_secrets([*logs, err_path], found_secrets)
    _print(describe_scan(f"the demo's {len(logs)} logs and its stderr", result))
    assert set(result["hits"].values()) == {0}, result["where"]
    assert "/login/link/<code>" in (directory / "web.log").read_text(), "the link was not logged"

    shown = scan_for_secrets([out_path], found_secrets)
    _print(describe_scan("the demo's stdout", shown))
    assert shown["hits"] == {**dict.fromkeys(found_secrets, 0), "login code": 1}, shown["where"]
    (line,) = [line for line in out_path.read_text().splitlines() if code in line]
    assert line.split()[:2] == ["sign", "in"], line


# -- a PostgreSQL run with a password in its URL ----------------------------------------------


def _with_password(url: str, *, where: str | None = None, dbname: str | None = None) -> str:
    """`url` with PASSWORD in it, and optionally another host:port or database."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    if where is None:
        where = f"{parts.hostname}:{parts.port or 5432}"
    path = parts.path if dbname is None else f"/{dbname}"
    return parts._replace(netloc=f"{user}:{PASSWORD}@{where}", path=path).geturl()


@pytest.fixture
def password_url(postgres_server: str) -> Iterator[str]:
    """A schema of this test's own, reached with a URL that carries a password (trust
    authentication, as on CI, accepts and ignores it)."""
    with postgres_schema(_with_password(POSTGRES_URL)) as url:
        yield url


class Outputs:
    """Runs `runledger` commands and processes, every byte they print kept in a file."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory = directory
        self.env = env
        self.count = 0
        directory.mkdir(parents=True, exist_ok=True)

    def _paths(self, name: str) -> tuple[Path, Path]:
        self.count += 1
        stem = self.directory / f"{self.count:02d}-{name}"
        return stem.with_suffix(".out"), stem.with_suffix(".err")

    def run(self, name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv, environ = [RUNLEDGER, *args], cli_env(**{**self.env, **env})
        done = subprocess.run(
            argv, env=environ, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False
        )
        out, err = self._paths(name)
        out.write_text(done.stdout)
        err.write_text(done.stderr)
        return done

    @contextlib.contextmanager
    def process(self, name: str, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
        out, _ = self._paths(name)
        with out.open("w") as log:
            argv, environ = [RUNLEDGER, *args], cli_env(**{**self.env, **env})
            process = subprocess.Popen(
                argv, env=environ, stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT
            )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _refused_with(done: subprocess.CompletedProcess[str], shown: str) -> str:
    """The one line a refused command printed, which names the URL as `shown`."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert shown in lines[0], (shown, lines[0])
    return lines[0]


def _work(outputs: Outputs, token: str) -> None:
    """Runs through a worker, the projector and `runledger web`, read by the API and a
    browser, the way an operator's day goes."""
    run_ids = [
        outputs.run("enqueue", "enqueue", kind, "--workspace", workspace).stdout.split()[-1]
        for kind, workspace in (
            ("web.succeed", "acme"),
            ("web.fail", "beta"),
            ("web.explode", "acme"),
            ("web.retry", "beta"),
        )
    ]
    port = free_port()
    with (
        outputs.process("projector", "project"),
        outputs.process("web", "web", "--port", str(port)),
    ):
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{base}/healthz"), 30, "runledger web")
        worker = outputs.run("worker", "worker", "--burst", "--poll-delay", "0.05")
        assert worker.returncode == 0, worker.stderr[-2000:]
        for args in (("reconcile",), ("runs", "list"), ("token", "list")):
            done = outputs.run(args[0], *args)
            assert done.returncode == 0, (args, done.stderr)
        headers = {"Authorization": f"Bearer {token}"}

        def all_ended() -> bool:
            runs = httpx.get(f"{base}/api/runs", headers=headers, timeout=5).json()["runs"]
            return len(runs) == 4 and all(run["status"] == "completed" for run in runs)

        wait_for(all_ended, 30, "the four runs projected as completed")
        with httpx.Client(base_url=base, follow_redirects=False, timeout=15) as browser:
            form = {"csrf": csrf_of(browser.get("/login").text), "token": token}
            assert browser.post("/login", data=form).status_code == 303
            assert browser.get("/operations").status_code == 200
            assert browser.get(f"/operations/{run_ids[2]}").status_code == 200
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _errors(outputs: Outputs, url: str, token: str) -> int:
    """Every way a URL or its database can be wrong; each error names it without the
    password. Returns how many were tried."""
    settings = DatabaseSettings.from_url(url)
    missing = _with_password(url, dbname=f"nosuch_{uuid.uuid4().hex[:8]}")
    unreachable = _with_password(url, where="127.0.0.1:1")
    for name, args, bad in (
        ("runs-list-missing-db", ("runs", "list"), missing),
        ("migrate-unreachable", ("migrate",), unreachable),
    ):
        done = outputs.run(name, *args, RUNLEDGER_DATABASE_URL=bad)
        _refused_with(done, DatabaseSettings.from_url(bad).display())
    malformed = _with_password(url, where=f"{settings.host}:99999")
    _refused_with(
        outputs.run("migrate-malformed-port", "migrate", RUNLEDGER_DATABASE_URL=malformed), ":***@"
    )
    for bad in (
        f"postgresql://postgres:{PASSWORD}@/{settings.dbname}",  # no host
        f"postgres:{PASSWORD}@127.0.0.1/{settings.dbname}",  # no scheme
    ):
        with pytest.raises(SettingsError) as refused:
            DatabaseSettings.from_url(bad)
        assert PASSWORD not in str(refused.value) and ":***@" in str(refused.value)
        (outputs.directory / f"settings-error-{len(bad)}.txt").write_text(str(refused.value))
    port = free_port()
    with outputs.process(
        "web-unreachable", "web", "--port", str(port), RUNLEDGER_DATABASE_URL=unreachable
    ):
        wait_for(lambda: _listens(port), 30, "runledger web")
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/healthz", timeout=30)
        api = httpx.get(
            f"{base}/api/runs", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert health.status_code == 503 and api.status_code == 503, (health.text, api.text)
        (outputs.directory / "web-unreachable.responses").write_text(health.text + api.text)
    return 6


def test_a_postgresql_runs_outputs_and_errors_never_show_the_database_password(
    tmp_path: Path, password_url: str, redis_server: str, queue_name: str
) -> None:
    key = secrets.token_urlsafe(32)
    env = {
        "RUNLEDGER_DATABASE_URL": password_url,
        "RUNLEDGER_REDIS_URL": redis_server,
        "RUNLEDGER_QUEUE_NAME": queue_name,
        "RUNLEDGER_JOBS": "tests.web_jobs",
        "RUNLEDGER_SECRET_KEY": key,
    }
    outputs = Outputs(tmp_path / "outputs", env)
    assert outputs.run("migrate", "migrate").returncode == 0
    made = outputs.run("token-create", "token", "create", "--operator", "sec", "--workspace", "*")
    assert made.returncode == 0, made.stderr
    token = made.stdout.split()[-1]
    _work(outputs, token)
    tried = _errors(outputs, password_url, token)

    files = sorted(outputs.directory.iterdir())
    shown_once = next(p for p in files if p.name.endswith("-token-create.out"))
    result = scan_for_secrets(files, {"database password": PASSWORD, "secret key": key})
    tokens = scan_for_secrets([p for p in files if p != shown_once], {"token": token})
    _print(
        describe_scan(
            f"a PostgreSQL run's outputs ({len(files)} files: migrate, token, enqueue, worker, "
            f"projector, web, reconcile, runs, and {tried} error paths)",
            {**result, "hits": {**result["hits"], **tokens["hits"]}},
        )
    )
    assert result["files"] == len(files) and result["bytes"] > 2_000
    assert set(result["hits"].values()) == {0}, result["where"]
    assert tokens["hits"]["token"] == 0, tokens["where"]
    assert scan_for_secrets([shown_once], {"token": token})["hits"]["token"] == 1
