"""compose.yaml as Docker Compose reads it: YAML (anchors and merge keys resolved), then
`${...}` interpolated from the environment, so a test sees what each service would run."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose.yaml"

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt},
# ${VAR+alt}, $VAR and $$ (a literal $): the forms of Compose's interpolation.
_REFERENCE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<invalid>))"  # any other $, which compose refuses ("invalid interpolation format")
)
# `docker compose exec SERVICE runledger ...` in the file's comments: what users copy.
_DOCUMENTED = re.compile(
    r"`docker compose (?:exec|run --rm) (?P<service>\S+) (?P<cmd>runledger [^`]+)`"
)


class MissingVariableError(Exception):
    """A `${VAR:?message}` whose variable is not set: compose refuses the file."""


def raw_text() -> str:
    return COMPOSE_FILE.read_text()


def load(environ: Mapping[str, str]) -> dict[str, Any]:
    """compose.yaml with every `${...}` replaced as Compose would, from `environ` only."""
    document = yaml.safe_load(raw_text())
    assert isinstance(document, dict), "compose.yaml is not a mapping"
    interpolated: dict[str, Any] = _interpolate_all(document, environ)
    return interpolated


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        if match.group("invalid") is not None:
            raise ValueError(f"compose refuses the lone $ in {text!r} (write $$ for a $)")
        name = match.group("braced") or match.group("bare")
        value, op, arg = environ.get(name), match.group("op"), match.group("arg") or ""
        unset_or_empty = value is None or (op is not None and op.startswith(":") and not value)
        if op in (":-", "-"):
            return arg if unset_or_empty else str(value)
        if op in (":?", "?"):
            if unset_or_empty:
                raise MissingVariableError(f"{name}: {arg}")
            return str(value)
        if op in (":+", "+"):
            return "" if unset_or_empty else arg
        return value or ""

    return _REFERENCE.sub(replace, text)


def _interpolate_all(node: Any, environ: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _interpolate_all(value, environ) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_all(item, environ) for item in node]
    if isinstance(node, str):
        return interpolate(node, environ)
    return node


def documented_commands() -> list[tuple[str, list[str]]]:
    """(service, argv) of each `docker compose exec SERVICE runledger ...` in the comments."""
    return [
        (match.group("service"), shlex.split(match.group("cmd")))
        for match in _DOCUMENTED.finditer(raw_text())
    ]


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def healthcheck_of(service: Mapping[str, Any]) -> list[str]:
    """The healthcheck's argv (after CMD; a CMD-SHELL string runs under sh); [] if none."""
    test = service.get("healthcheck", {}).get("test", [])
    if isinstance(test, str):
        return ["sh", "-c", test]
    if not test or test[0] == "NONE":
        return []
    kind, *argv = [str(a) for a in test]
    return ["sh", "-c", *argv] if kind == "CMD-SHELL" else argv


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {str(key): "" if value is None else str(value) for key, value in environment.items()}
