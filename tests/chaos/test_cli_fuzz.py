"""Fuzzing `runledger`'s arguments: whatever the argument list, no traceback, and a
failure says what is wrong in exactly one stderr line with a non-zero exit.

Hypothesis builds argument lists for every subcommand from `runledger.cli.build_parser()`
itself: its options and positionals with plausible values or hostile ones (NUL, lone
surrogates, HTML, 1 MB strings, empty and blank text), unknown flags and stray values.
They run in-process through `runledger.cli.main(argv)` (a subprocess costs seconds),
with stdout and stderr captured as real text streams (stdout strict UTF-8, as a pipe
is; stderr backslash-escaping, as Python's is) and the logging `main` sets up writing
to that stderr. A handful of representative ones run as real subprocesses too.

Nothing real is touched: the database is a SQLite file in a temporary directory and
Redis is 127.0.0.1:1 (refused at once). The commands that start long-running processes
(worker, project, web, demo) get only argument lists that argparse or their settings
refuse before anything starts: each holds one argument argparse cannot take, or (worker,
web) none of the jobs module and secret key they need.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import DatabaseSettings
from runledger.cli import SUBCOMMANDS, build_parser, main
from runledger.wiring import migrate_all
from tests.chaos.cli_batch import run_all
from tests.e2e.cli import ROOT, one_clear_line

pytestmark = pytest.mark.timeout(180)

LONG_RUNNING = ("worker", "project", "web", "demo")
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
UNKNOWN_FLAG = "--no-such-option"  # no option of runledger starts so: argparse cannot abbreviate
# --jobs imports what it names: only modules known to be harmless, or none at all.
JOBS_VALUES = ("tests.worker_jobs", "tests.chaos.hostile_jobs", "no_such_jobs_module", "")

_CHARACTERS = st.one_of(
    st.characters(),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),  # lone surrogates
    st.sampled_from("\x00\n\r\t\x1b<>&\"'/\\="),
)
HOSTILE_VALUES = st.one_of(
    st.text(_CHARACTERS, max_size=40),
    st.sampled_from(
        [
            "",
            "   ",
            "x" * 1_000_000,
            "<script>alert('x')</script>",
            "../../etc/passwd",
            "a\x00b",
            "\udcff\udcfe",
            "-1",
            "0",
            "1e309",
            "nan",
            "9" * 5000,
            "-",
            "--",
            "*",
            str(uuid.UUID(int=0)),
        ]
    ),
)


# -- what the parser declares --------------------------------------------------------


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...]
    is_jobs: bool
    required: bool
    numeric: bool  # its type is int or float


@dataclass(frozen=True)
class Command:
    """One (sub)command as the parser declares it: its options, positionals, actions."""

    path: tuple[str, ...]
    options: tuple[Option, ...]
    positionals: int
    actions: dict[str, Command]


def _command(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Command:
    options: list[Option] = []
    positionals = 0
    actions: dict[str, Command] = {}
    for action in parser._actions:  # argparse has no public view of its actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                actions[name] = _command(sub, (*path, name))
        elif action.option_strings:
            if isinstance(action, argparse._HelpAction):
                continue
            options.append(
                Option(
                    tuple(action.option_strings),
                    action.nargs != 0,
                    tuple(str(c) for c in action.choices or ()),
                    action.dest == "jobs",
                    action.required,
                    action.type in (int, float),
                )
            )
        else:
            positionals += 1
    return Command(path, tuple(options), positionals, actions)


COMMANDS = _command(build_parser(), ())


# Values a command may well accept, so that most lists get past argparse into the command.
PLAUSIBLE = ("acme", "wtest.succeed", "hostile.echo", "1", str(uuid.uuid4()), "*", "runs:read")


def _value(option: Option) -> st.SearchStrategy[str]:
    if option.is_jobs:
        return st.sampled_from(JOBS_VALUES)
    if option.choices:
        plausible = st.sampled_from(option.choices)
    elif option.numeric:
        plausible = st.sampled_from(["1", "3", "0.5", "30"])
    else:
        plausible = st.sampled_from(PLAUSIBLE)
    return st.one_of(plausible, plausible, HOSTILE_VALUES)


def _option(draw: st.DrawFn, option: Option) -> list[str]:
    flag = draw(st.sampled_from(option.flags))
    if not option.takes_value:
        return [flag]
    if draw(st.booleans()):
        return [flag, draw(_value(option))]
    return [f"{flag}={draw(_value(option))}"]


@st.composite
def _arguments(draw: st.DrawFn, command: Command) -> list[str]:
    """Its required options (mostly), others, a few unknown flags or stray values, and
    (mostly) as many positionals as it takes."""
    chunks = [_option(draw, o) for o in command.options if o.required and draw(st.integers(0, 7))]
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["option"] * 6 + ["unknown", "stray"]))
        if kind == "option":
            if command.options:
                chunks.append(_option(draw, draw(st.sampled_from(command.options))))
        elif kind == "unknown":
            chunks.append([UNKNOWN_FLAG + draw(st.text(_CHARACTERS, max_size=8))])
        else:
            chunks.append([draw(HOSTILE_VALUES)])
    wanted = command.positionals
    count = draw(st.sampled_from([wanted] * 6 + [wanted + 1, max(wanted - 1, 0)]))
    positional = st.one_of(st.sampled_from(PLAUSIBLE), HOSTILE_VALUES)
    chunks.extend([draw(positional)] for _ in range(count))
    return [arg for chunk in draw(st.permutations(chunks)) for arg in chunk]


@st.composite
def argv_of(draw: st.DrawFn, command: Command) -> list[str]:
    argv = list(command.path)
    if command.actions and draw(st.integers(0, 9)) > 0:  # mostly a real action, else none
        action = draw(st.sampled_from(sorted(command.actions)))
        return draw(argv_of(command.actions[action]))
    return argv + draw(_arguments(command))


@st.composite
def refused_before_starting(draw: st.DrawFn, name: str) -> list[str]:
    """An argument list of a long-running command that argparse, or its settings, refuse:
    one argument argparse cannot take, anywhere; or, for the worker and the web app, no
    --jobs (a worker serves nothing without one) and no RUNLEDGER_SECRET_KEY (never set
    here), which their settings refuse before anything starts."""
    argv = draw(argv_of(COMMANDS.actions[name]))
    if name in ("worker", "web") and draw(st.booleans()):
        return [a for a in argv if not a.startswith("--jobs")]  # a value left alone is stray
    position = draw(st.integers(1, len(argv)))
    return [*argv[:position], UNKNOWN_FLAG, *argv[position:]]


# -- running the command in-process -------------------------------------------------------


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _own_logging() -> Iterator[None]:
    """Lets `main`'s logging.basicConfig write to the captured stderr, then restores."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = saved, level


def run_in_process(argv: Sequence[str]) -> Outcome:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    code: Any
    with _own_logging(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
    out.flush()
    err.flush()
    stdout = out.buffer.getvalue().decode("utf-8", "backslashreplace")
    stderr = err.buffer.getvalue().decode("utf-8", "backslashreplace")
    if code is None:
        code = 0
    elif not isinstance(code, int):
        stderr, code = stderr + f"{code}\n", 1  # SystemExit("message") prints it, exit 1
    return Outcome(code, stdout, stderr)


def assert_clean(argv: Sequence[str], outcome: Outcome) -> None:
    shown = [a if len(a) < 80 else a[:80] + "…" for a in argv]
    assert "Traceback" not in outcome.stderr, (shown, outcome.stderr[-3000:])
    if outcome.code != 0:
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (shown, outcome.code, outcome.stderr[-3000:])
        assert lines[0].startswith("runledger"), (shown, lines[0][:500])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """RUNLEDGER_* of a migrated SQLite ledger in a temporary directory and a Redis that
    refuses every connection, for the whole module (hypothesis reruns one test often)."""
    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'runledger.db'}"
    list(migrate_all(DatabaseSettings.from_url(url)))
    env = {
        "RUNLEDGER_DATABASE_URL": url,
        "RUNLEDGER_REDIS_URL": UNREACHABLE_REDIS,
        "RUNLEDGER_QUEUE_NAME": f"runledger-fuzz:{uuid.uuid4().hex[:8]}",
    }
    saved = {k: v for k, v in os.environ.items() if k.startswith("RUNLEDGER_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    cwd = Path.cwd()
    os.chdir(ROOT)  # as an operator runs it: `--jobs tests.…` imports from here
    try:
        yield env
    finally:
        os.chdir(cwd)
        for key in env:
            os.environ.pop(key, None)
        os.environ.update(saved)


FUZZ = settings(
    max_examples=18,  # per subcommand: about 200 in all
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)
SHORT_LIVED = [name for name in SUBCOMMANDS if name not in LONG_RUNNING]


@pytest.mark.parametrize("name", SHORT_LIVED)
def test_a_short_lived_command_never_prints_a_traceback(sandbox: dict[str, str], name: str) -> None:
    @FUZZ
    @given(argv=argv_of(COMMANDS.actions[name]))
    def fuzz(argv: list[str]) -> None:
        assert_clean(argv, run_in_process(argv))

    fuzz()


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_a_long_running_command_refuses_bad_arguments_before_starting(
    sandbox: dict[str, str], name: str
) -> None:
    @FUZZ
    @given(argv=refused_before_starting(name))
    def fuzz(argv: list[str]) -> None:
        outcome = run_in_process(argv)
        assert_clean(argv, outcome)
        assert outcome.code != 0 or outcome.stdout.startswith("usage:"), argv  # or --help

    fuzz()


@settings(max_examples=18, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    argv=st.lists(
        st.one_of(HOSTILE_VALUES, st.sampled_from(["-v", "-h", UNKNOWN_FLAG])), max_size=4
    )
)
def test_the_top_level_never_prints_a_traceback(sandbox: dict[str, str], argv: list[str]) -> None:
    if any(a in SUBCOMMANDS for a in argv):
        return  # a subcommand: the tests above cover it
    outcome = run_in_process(argv)
    assert_clean(argv, outcome)
    assert outcome.code != 0 or outcome.stdout.startswith("usage:"), argv


# -- the same, as real subprocesses ----------------------------------------------------------

# Representative argument lists, each run as `runledger ARGS` in a process of its own.
REPRESENTATIVE: dict[str, list[str]] = {
    "nothing": [],
    "not_utf8": ["<script>\udcff"],
    "unknown_flag": ["migrate", UNKNOWN_FLAG, "a\nb"],
    "huge_argument": ["replay", "x" * 100_000],
    "bad_param": [
        *("enqueue", "wtest.succeed", "--workspace", "acme", "--param", "a\nb"),
        *("--jobs", "tests.worker_jobs"),
    ],
    "bad_run_id": ["runs", "show", "<b>not a run</b>"],
    "bad_limit": ["runs", "list", "--limit", "<script>"],
    "worker_bad_number": ["worker", "--jobs", "tests.worker_jobs", "--max-jobs", "many"],
    "web_without_secret": ["web", "--port", "8123"],
    "token_control_character": ["token", "create", "--operator", "op\x1b[2J", "--workspace", "a"],
}


@pytest.fixture(scope="module")
def subprocess_outcomes(sandbox: dict[str, str]) -> dict[str, Any]:
    done = run_all(REPRESENTATIVE, sandbox)
    return {name: Outcome(p.returncode, p.stdout, p.stderr) for name, p in done.items()}


@pytest.mark.parametrize("name", list(REPRESENTATIVE))
def test_a_real_runledger_process_fails_in_one_line(
    subprocess_outcomes: dict[str, Any], name: str
) -> None:
    outcome = subprocess_outcomes[name]
    line = one_clear_line(outcome.stderr)
    assert outcome.code == 2, (outcome.code, outcome.stderr)
    assert line.startswith("runledger") and len(line) < 1000, line
