"""compose.yaml describes a deployment that starts: every process of runledger, each with
a healthcheck, commands the real CLI accepts, variables the README documents, and an
image that holds the whole package.

No Docker engine runs here (and `docker compose` may be missing), so these checks read
the file as Compose would; tests/package/test_compose_services.py runs its commands.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests.package import compose
from tests.package.compose import ROOT

SECRET = {"RUNLEDGER_SECRET_KEY": "a-local-secret-of-32-characters!"}
PROCESSES = ("migrate", "worker", "projector", "web")  # what runs `runledger ...`
SERVICES = ("postgres", "redis", *PROCESSES)
PACKAGES = ("ledger", "projections", "workers", "web", "runledger")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return dict(compose.load(SECRET)["services"])


def test_every_process_of_a_deployment_is_a_service_with_a_healthcheck(
    services: dict[str, Any],
) -> None:
    assert set(SERVICES) <= set(services), f"missing: {set(SERVICES) - set(services)}"
    for name in set(SERVICES) - {"migrate"}:
        assert compose.healthcheck_of(services[name]), f"{name} has no healthcheck"
    assert compose.healthcheck_of(services["postgres"])[0] == "pg_isready"
    assert compose.healthcheck_of(services["redis"]) == ["redis-cli", "ping"]
    assert compose.healthcheck_of(services["web"])[:2] == ["python", "-c"]
    assert "/healthz" in compose.healthcheck_of(services["web"])[2]
    for name in ("worker", "projector"):
        probe = compose.healthcheck_of(services[name])
        assert probe[:2] == ["python", "-c"], f"{name}: {probe}"
        assert probe[-2:] == [compose.command_of(services[name])[1], "1"], (
            f"{name}'s healthcheck must name its own subcommand and PID 1: {probe[-2:]}"
        )


def test_migrate_runs_once_and_every_other_runledger_process_waits_for_it(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]
    assert compose.command_of(migrate) == ["runledger", "migrate"]
    assert migrate.get("restart", "no") == "no", "a one-shot must not be restarted"
    assert "healthcheck" not in migrate
    for name in ("worker", "projector", "web"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["restart"] == "unless-stopped", name


def test_dependencies_name_services_that_can_satisfy_them(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for dependency, spec in dict(service.get("depends_on", {})).items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            condition = (spec or {}).get("condition", "service_started")
            if condition == "service_healthy":
                # Otherwise compose waits forever for a health that is never reported.
                assert "healthcheck" in services[dependency], f"{name} -> {dependency}"
            if condition == "service_completed_successfully":
                assert services[dependency].get("restart", "no") == "no", f"{name} -> {dependency}"


def test_two_workers_run_by_default_and_nothing_stops_them_from_scaling(
    services: dict[str, Any],
) -> None:
    worker = services["worker"]
    assert worker["deploy"]["replicas"] == 2
    # A fixed name or a published port would clash between replicas.
    assert "container_name" not in worker
    assert "ports" not in worker


def test_web_listens_on_every_interface_on_the_published_port(services: dict[str, Any]) -> None:
    web = services["web"]
    environment = compose.environment_of(web)
    assert environment["RUNLEDGER_WEB_HOST"] == "0.0.0.0"
    port = environment.get("RUNLEDGER_WEB_PORT", "8000")
    published = [str(p).split(":")[-2:] for p in web["ports"]]
    assert ["8000", port] in published, f"8000 must reach the container's {port}: {published}"


def test_the_secret_key_must_be_given_and_the_jobs_default_to_the_demo() -> None:
    with pytest.raises(compose.MissingVariableError, match="RUNLEDGER_SECRET_KEY"):
        compose.load({})
    default = compose.environment_of(compose.load(SECRET)["services"]["worker"])
    assert default["RUNLEDGER_JOBS"] == "runledger.demo.jobs"
    chosen = compose.load({**SECRET, "RUNLEDGER_JOBS": "myapp.jobs"})["services"]
    assert compose.environment_of(chosen["worker"])["RUNLEDGER_JOBS"] == "myapp.jobs"
    web = compose.environment_of(chosen["web"])
    assert web["RUNLEDGER_SECRET_KEY"] == SECRET["RUNLEDGER_SECRET_KEY"]


def test_the_default_jobs_are_in_the_package_and_pass_the_timing_guard(
    services: dict[str, Any],
) -> None:
    from workers import load_operations
    from workers.timing import timing_report
    from workers.worker import cron_jobs_for

    module = compose.environment_of(services["worker"])["RUNLEDGER_JOBS"]
    assert (ROOT / Path(*module.split("."))).with_suffix(".py").is_file(), module
    operations = load_operations(module)
    report = timing_report(operations, cron_jobs_for(operations))
    assert report.ok, "\n".join(report.lines())  # else `runledger worker` refuses to start
    for service, argv in compose.documented_commands():
        if argv[1] == "enqueue" and service == "worker":
            assert argv[2] in operations, f"the comment enqueues unknown {argv[2]}"


def _runledger_commands(services: dict[str, Any]) -> list[tuple[str, list[str]]]:
    found = [(name, compose.command_of(service)) for name, service in services.items()]
    found += [(f"{name} healthcheck", compose.healthcheck_of(s)) for name, s in services.items()]
    found += [(f"comment ({name})", argv) for name, argv in compose.documented_commands()]
    return [(where, argv) for where, argv in found if argv[:1] == ["runledger"]]


def test_every_runledger_command_is_one_the_cli_accepts(services: dict[str, Any]) -> None:
    from runledger.cli import build_parser

    commands = _runledger_commands(services)
    assert {where for where, _ in commands} >= set(PROCESSES)
    assert any(where.startswith("comment") for where, _ in commands)
    for where, argv in commands:
        if where.startswith("comment"):
            assert where[9:-1] in services, f"{where}: no such service"
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            try:
                parsed = build_parser().parse_args(argv[1:])
            except SystemExit:
                pytest.fail(f"{where}: `{' '.join(argv)}` is refused: {errors.getvalue()}")
        assert parsed.command == argv[1]


def test_every_runledger_variable_is_read_by_the_code_and_documented_in_the_readme() -> None:
    # Environment keys, ${...} references, the healthchecks' code and the comments.
    runledger_vars = set(re.findall(r"RUNLEDGER_[A-Z0-9_]+", compose.raw_text()))
    assert {"RUNLEDGER_SECRET_KEY", "RUNLEDGER_JOBS"} <= runledger_vars
    documented = _readme_configuration_variables()
    missing = sorted(runledger_vars - documented)
    assert not missing, f"README.md's configuration table lacks {missing}"
    source = "\n".join(
        path.read_text() for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    )
    unread = sorted(v for v in runledger_vars if f'"{v}"' not in source)
    assert not unread, f"compose.yaml sets variables no code reads: {unread}"


def _readme_configuration_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {row.split("`")[1] for row in rows}


def test_the_image_builds_the_whole_package_from_what_it_copies(services: dict[str, Any]) -> None:
    dockerfiles = set()
    for name in PROCESSES:
        build = services[name]["build"]
        dockerfile = ROOT / build["context"] / build["dockerfile"]
        assert dockerfile.is_file(), f"{name} builds from a missing {dockerfile}"
        dockerfiles.add(dockerfile)
    assert len(dockerfiles) == 1, "every runledger process runs the same image"
    (dockerfile,) = dockerfiles
    instructions = _instructions(dockerfile.read_text())
    copied = {
        source.rstrip("/")
        for verb, args in instructions
        if verb == "COPY"
        for source in args.split()[:-1]
    }
    packages = {p.name for p in ROOT.iterdir() if p.name in PACKAGES and p.is_dir()}
    needed = {"pyproject.toml", "README.md", *packages}  # README.md: pyproject's readme
    assert needed <= copied, f"{dockerfile.name} does not copy {sorted(needed - copied)}"
    installs = [args for verb, args in instructions if verb == "RUN" and "pip install" in args]
    assert installs, "the image must pip install the package"
    assert not any(" -e " in f" {args} " for args in installs), "an editable install needs /src"


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#") and " " in line
    ]
