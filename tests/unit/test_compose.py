"""compose.yaml stays a valid, self-consistent description of a deployment."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_every_service_depends_only_on_defined_services_and_builds_from_a_real_file() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate"} <= set(services)
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()
        command = service.get("command", [])
        if command and command[0] == "runledger":
            assert command[1] in _runledger_subcommands(), f"{name}: unknown command {command}"


def _runledger_subcommands() -> set[str]:
    from runledger.cli import SUBCOMMANDS

    return set(SUBCOMMANDS)
