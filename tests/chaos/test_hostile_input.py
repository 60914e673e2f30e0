"""Hostile input, on both stores: each case, by each way it comes in (the params of
`RunClient.enqueue`, `runledger enqueue --param` as a real subprocess, a job's returned
summary, a job's exception message), is either stored cut to its documented limit and
shown escaped, or refused with an error naming the limit (docs/workers.md, "Limits").
Never a raw RecursionError or UnicodeEncodeError, never a dead worker, projector or web
app: a normal run queued after every hostile one still completes and is projected.

Per store, one module-wide ledger takes every accepted case at once (through the client,
the CLI and the jobs of tests/chaos/hostile_jobs.py), one real LedgerWorker runs them
all and one projector pass projects them; each test then reads its own case back, from
the event store and through `projections.document.run_document` (the API's document),
and the web app renders the runs. The refusals need no worker: nothing is recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

import pytest

from ledger import DatabaseSettings, RunLedger, utcnow
from ledger.limits import (
    DEPTH_LIMIT,
    ITEMS_LIMIT,
    PARAM_TEXT_LIMIT,
    SUMMARY_BYTES_LIMIT,
    TEXT_LIMIT,
    InputRefusedError,
)
from projections import MonitoringView, Scope
from projections.document import run_document
from projections.lag import head_position, read_lag
from projections.runner import CatchUpRunner
from runledger.commands.enqueue import parse_params
from runledger.wiring import migrate_all
from tests.chaos.cli_batch import run_all
from tests.chaos.hostile_jobs import HOSTILE_TYPE, HTML, MB, fingerprint, nested
from tests.conftest import REDIS_URL, store_url
from tests.e2e.cli import one_clear_line
from tests.integration.worker_helpers import timeline
from workers import QueueSettings, RunClient, WorkerSettings, build_worker, load_operations

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.timeout(240)

JOBS = "tests.chaos.hostile_jobs"
FFFD = "\ufffd"
CUT = "…"
ARG = 120_000  # characters of one argv string: Linux refuses past 131,072 (MAX_ARG_STRLEN)
SECRET = "hostile-input-secret-key-0123456789abcdef"
EVERY = Scope.every_workspace()
# Idempotency keys of this session's own: a run id derived from a key is its arq job id,
# and arq will not take a job whose id has a result in Redis (from an earlier session).
KEY = f"{HTML} {uuid.uuid4().hex[:8]}"

# The params each accepted case queues through RunClient and through the CLI.
CLIENT_PARAMS: dict[str, dict[str, Any]] = {
    "nul": {"text": "a\x00b"},
    "surrogates": {"text": "a\ud800b\udfff", "raw": b"\xff\xfe\x00"},
    "10k_keys": {"table": {f"k{i}": i for i in range(10_000)}},
    "10k_params": {f"p{i}": i for i in range(10_000)},
    "1mb_param": {"text": "x" * MB},
    "32_levels": {"deep": nested(DEPTH_LIMIT - 1)},  # the params and 31 levels: the limit
}
TEN_K_JSON = json.dumps({f"k{i}": i for i in range(10_000)}, separators=(",", ":"))  # 127,781
# The accepted cases of the CLI path, as the `--param` of one `runledger enqueue` (each
# subprocess costs seconds of imports): one param per case, all of them sent to the job.
CLI_PARAMS = {
    "nul": 'nul:="a\\u0000b"',  # NUL, escaped in JSON: argv itself cannot carry one
    "surrogate": 'surrogate:="\\ud800"',  # a lone surrogate, escaped in JSON (invalid
    # UTF-8 in argv itself is refused: see CLI_REFUSED)
    "10k_keys": f"table:={TEN_K_JSON}",
    "big": "big=" + "x" * ARG,
}
CLI_ARGS: dict[str, list[str]] = {
    "echo": [
        *("hostile.echo", "--workspace", "acme"),
        *(arg for param in CLI_PARAMS.values() for arg in ("--param", param)),
    ],
    "names": [HOSTILE_TYPE, "--workspace", HTML, "--idempotency-key", "{key} /cli"],
}
TEN_K_JSON_AS_PYTHON = repr(json.loads(TEN_K_JSON))  # the summary keeps a dict's repr
CASES = ("1mb", "10mb", "nul", "surrogates", "nested", "10k_keys", "html")


@dataclass
class Worked:
    """A store after every accepted case ran through one worker and one projector pass."""

    settings: DatabaseSettings
    ledger: RunLedger
    view: MonitoringView
    key: str  # the idempotency key of the "names" runs (one per store: one arq job id)
    runs: dict[str, UUID] = field(default_factory=dict)
    cli: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def document(self, name: str) -> dict[str, Any]:
        document = run_document(self.view, EVERY, self.runs[name], utcnow())
        assert document is not None, f"run {name} was not projected"
        return document

    def summary(self, name: str) -> dict[str, Any]:
        """The stored summary: the aggregate's, which must equal the projected one."""
        stored = self.ledger.state(self.runs[name]).summary
        assert self.document(name)["summary"] == stored
        return stored


def _cli_env(url: str, queue_name: str) -> dict[str, str]:
    return {
        "RUNLEDGER_DATABASE_URL": url,
        "RUNLEDGER_REDIS_URL": REDIS_URL,
        "RUNLEDGER_QUEUE_NAME": queue_name,
        "RUNLEDGER_JOBS": JOBS,
    }


async def _enqueue_cases(client: RunClient, runs: dict[str, UUID], key: str) -> None:
    for name, params in CLIENT_PARAMS.items():
        runs[f"client.{name}"] = await client.enqueue(
            "hostile.echo", workspace="acme", params=params
        )
    runs["client.names"] = await client.enqueue(
        HOSTILE_TYPE, workspace=HTML, params={"note": HTML}, idempotency_key=key
    )
    for case in CASES:
        runs[f"summary.{case}"] = await client.enqueue(
            "hostile.report", workspace="acme", params={"case": case}
        )
        runs[f"message.{case}"] = await client.enqueue(
            "hostile.fail", workspace="acme", params={"case": case}
        )


async def _work(worked: Worked, queue: QueueSettings) -> None:
    """The accepted cases through the client (the CLI's are queued already), a normal
    run last, then one burst worker over all of them."""
    operations = load_operations(JOBS)
    async with RunClient(
        worked.ledger, queue.client(), operations, queue_name=queue.queue_name
    ) as c:
        await _enqueue_cases(c, worked.runs, worked.key)
        worked.runs["normal"] = await c.enqueue("hostile.normal", workspace="acme")
    worker = build_worker(
        operations,
        WorkerSettings(worked.ledger.settings, queue),
        clock=worked.ledger.clock,
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
    )
    short = _ShortRecords()  # after the worker's own guard, which it relies on
    loggers = [logging.getLogger(name) for name in ("arq.worker", "arq.jobs")]
    for logger in loggers:
        logger.addFilter(short)
    try:
        await worker.async_run()
    finally:
        await worker.close()
        for logger in loggers:
            logger.removeFilter(short)


class _ShortRecords(logging.Filter):
    """Keeps arq's lines about 10 MB messages short in pytest's captured log. It renders
    each message, as any handler would: without the worker's guard
    (workers.tracking.RenderableRecords) a 1,000-level exception still kills the worker."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = record.getMessage()[:300], None
        record.exc_info = record.exc_text = None
        return True


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def worked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Worked]:
    request.getfixturevalue("redis_server")
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server")
    with store_url(request.param, tmp_path_factory.mktemp("hostile")) as url:
        settings = DatabaseSettings.from_url(url)
        list(migrate_all(settings))
        queue = QueueSettings(REDIS_URL, f"runledger-test:{uuid.uuid4().hex[:12]}")
        ledger = RunLedger(settings)
        view = MonitoringView(settings)
        worked = Worked(settings, ledger, view, key=f"{KEY} {request.param}")
        try:
            worked.cli = run_all(
                {
                    f"cli.{name}": ["enqueue", *(a.replace("{key}", worked.key) for a in args)]
                    for name, args in CLI_ARGS.items()
                },
                _cli_env(url, queue.queue_name),
            )
            for name, done in worked.cli.items():
                assert done.returncode == 0, (name, done.stderr[-2000:])
                worked.runs[name] = UUID(done.stdout.strip().splitlines()[-1])
            asyncio.run(_work(worked, queue))
            CatchUpRunner(settings).run_once()
            yield worked
        finally:
            view.close()
            ledger.close()


# -- the worker, the projector and the web app keep working ------------------------------


def test_every_hostile_run_ends_and_a_normal_run_after_them_completes(worked: Worked) -> None:
    assert timeline(worked.ledger, worked.runs["normal"]) == [
        ("Queued",),
        ("Started", 1),
        ("Completed", 1, "job.succeeded"),
    ]
    for name, run_id in worked.runs.items():
        state = worked.ledger.state(run_id)
        assert state.status == "completed", (name, state)
        assert worked.document(name)["status"] == "completed", name
    assert read_lag(worked.settings).events_behind == 0  # the projector took every event


def test_the_web_app_shows_every_hostile_run_escaped(worked: Worked) -> None:
    from web.app import create_app
    from web.context import WebContext
    from web.settings import WebSettings
    from web.tokens import TokenStore

    settings = WebSettings(database=worked.settings, secret_key=SECRET)
    context = WebContext(settings, worked.view, TokenStore(worked.view.connections))
    _, token = context.tokens.create("hostile", ["*"], [], utcnow())
    with TestClient(create_app(settings, context), follow_redirects=False) as browser:
        _login(browser, token)
        for name in ("client.names", "cli.names", "summary.html", "message.html"):
            page = browser.get(f"/operations/{worked.runs[name]}")
            assert page.status_code == 200, (name, page.text[:500])
            assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text, name
            api = browser.get(
                f"/api/runs/{worked.runs[name]}", headers={"Authorization": f"Bearer {token}"}
            )
            assert api.status_code == 200 and api.json()["id"] == str(worked.runs[name])
        listing = browser.get("/operations", params={"workspace": HTML})
        assert listing.status_code == 200 and str(worked.runs["client.names"]) in listing.text
        assert "<script>alert" not in listing.text
        assert browser.get("/operations").status_code == 200


def _login(browser: TestClient, token: str) -> None:
    form = browser.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text[:500]
    answer = browser.post(
        "/login", data={"csrf": csrf.group(1), "token": token, "next": "/operations"}
    )
    assert answer.status_code == 303, answer.text[:500]


# -- a job's summary: stored cut ---------------------------------------------------------


def test_a_1mb_summary_string_is_cut_to_the_text_limit(worked: Worked) -> None:
    assert worked.summary("summary.1mb") == {"log": "x" * TEXT_LIMIT + CUT}


def test_a_10mb_summary_is_cut_to_the_summary_limit(worked: Worked) -> None:
    summary = worked.summary("summary.10mb")
    assert summary["blob"] == "y" * TEXT_LIMIT + CUT
    assert (
        summary["more"][-1].startswith(f"{CUT} ") and "more items not stored" in summary["more"][-1]
    )
    assert len(json.dumps(summary, ensure_ascii=False).encode()) <= SUMMARY_BYTES_LIMIT


def test_nul_bytes_in_a_summary_become_replacement_characters(worked: Worked) -> None:
    assert worked.summary("summary.nul") == {f"a{FFFD}b": f"c{FFFD}d", "list": [FFFD]}


def test_lone_surrogates_and_invalid_utf8_in_a_summary_are_stored_readable(worked: Worked) -> None:
    assert worked.summary("summary.surrogates") == {
        "s": f"a{FFFD}b{FFFD}",
        f"k{FFFD}": 1,
        "raw": "b'\\xff\\xfe\\x00'",  # bytes: their repr
    }


def test_a_1000_level_summary_is_cut_at_the_depth_limit(worked: Worked) -> None:
    value: Any = worked.summary("summary.nested")
    levels = 0
    while isinstance(value, dict):
        levels += 1
        value = value.get("deep", value.get("a"))
    assert levels == DEPTH_LIMIT
    assert value == f"{CUT} nested deeper than {DEPTH_LIMIT} levels (DEPTH_LIMIT)"


def test_a_10k_key_summary_keeps_the_first_entries_and_counts_the_rest(worked: Worked) -> None:
    summary = worked.summary("summary.10k_keys")
    assert set(summary) - {CUT} == {f"k{i}" for i in range(ITEMS_LIMIT)}
    assert (
        summary[CUT]
        == f"{10_000 - ITEMS_LIMIT:,} more entries not stored (ITEMS_LIMIT, SUMMARY_BYTES_LIMIT)"
    )


def test_html_in_a_summary_is_stored_as_given(worked: Worked) -> None:
    assert worked.summary("summary.html") == {HTML: HTML}


# -- a job's exception: its message stored cut -------------------------------------------


def _error(worked: Worked, case: str) -> str:
    name = f"message.{case}"
    state = worked.ledger.state(worked.runs[name])
    assert state.reason_code == "job.exception", state
    return str(worked.summary(name)["error"])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("1mb", ("ValueError: " + "e" * MB)[:TEXT_LIMIT] + CUT),
        ("10mb", ("ValueError: " + "E" * (10 * MB))[:TEXT_LIMIT] + CUT),
        ("nul", f"ValueError: bad{FFFD}byte"),
        ("surrogates", "ValueError: ('bad \\ud800 surrogate', b'\\xff\\xfe')"),
        ("nested", "ValueError: <the text of a ValueError could not be made: RecursionError>"),
        (
            "10k_keys",
            ("ValueError: " + repr({f"k{i}": i for i in range(10_000)}))[:TEXT_LIMIT] + CUT,
        ),
        ("html", f"ValueError: {HTML}"),
    ],
)
def test_a_failure_message_is_stored_cleaned_and_cut(
    worked: Worked, case: str, expected: str
) -> None:
    assert _error(worked, case) == expected
    explanation = worked.document(f"message.{case}")["explanation"]
    assert json.dumps(explanation)  # shown: the API's document encodes
    assert "\x00" not in json.dumps(explanation, ensure_ascii=False)


# -- params through RunClient.enqueue: accepted, the job gets them whole -----------------


def _echoed(worked: Worked, name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The run's params summary; asserts the job received `params` unchanged."""
    received = worked.summary(name)
    assert received == {"fingerprint": fingerprint(params), "params": len(params)}
    return dict(worked.document(name)["params_summary"])


def test_nul_params_reach_the_job_and_are_summarized_cleaned(worked: Worked) -> None:
    assert _echoed(worked, "client.nul", CLIENT_PARAMS["nul"]) == {"text": f"a{FFFD}b"}


def test_surrogate_and_bytes_params_reach_the_job_and_are_summarized_readable(
    worked: Worked,
) -> None:
    summary = _echoed(worked, "client.surrogates", CLIENT_PARAMS["surrogates"])
    assert summary == {"text": f"a{FFFD}b{FFFD}", "raw": "b'\\xff\\xfe\\x00'"}


def test_a_10k_key_dict_param_reaches_the_job_and_its_summary_is_cut(worked: Worked) -> None:
    summary = _echoed(worked, "client.10k_keys", CLIENT_PARAMS["10k_keys"])
    table = repr(CLIENT_PARAMS["10k_keys"]["table"])
    assert summary == {"table": table[:PARAM_TEXT_LIMIT] + CUT}


def test_10k_params_reach_the_job_and_their_summary_keeps_the_first(worked: Worked) -> None:
    summary = _echoed(worked, "client.10k_params", CLIENT_PARAMS["10k_params"])
    assert set(summary) - {CUT} == {f"p{i}" for i in range(ITEMS_LIMIT)}  # stores sort keys
    assert summary[CUT].startswith(f"{10_000 - ITEMS_LIMIT:,} more entries not stored")


def test_a_1mb_param_reaches_the_job_and_its_summary_is_cut(worked: Worked) -> None:
    summary = _echoed(worked, "client.1mb_param", CLIENT_PARAMS["1mb_param"])
    assert summary == {"text": "x" * PARAM_TEXT_LIMIT + CUT}


def test_params_at_the_depth_limit_reach_the_job(worked: Worked) -> None:
    summary = _echoed(worked, "client.32_levels", CLIENT_PARAMS["32_levels"])
    assert summary["deep"].startswith("{'a': {'a': ") and summary["deep"].endswith(CUT)


@pytest.mark.parametrize("path", ["client", "cli"])
def test_html_quotes_and_path_separators_in_names_are_stored_as_given(
    worked: Worked, path: str
) -> None:
    document = worked.document(f"{path}.names")
    assert (document["workspace"], document["operation_type"]) == (HTML, HOSTILE_TYPE)
    assert document["idempotency_key"] == (worked.key if path == "client" else f"{worked.key} /cli")
    assert document["outcome"] == "succeeded"


# -- params through `runledger enqueue --param`: accepted ---------------------------------


def _cli_summary(worked: Worked) -> dict[str, Any]:
    return _echoed(worked, "cli.echo", parse_params(list(CLI_PARAMS.values())))


def test_cli_nul_params_reach_the_job_and_are_summarized_cleaned(worked: Worked) -> None:
    assert _cli_summary(worked)["nul"] == f"a{FFFD}b"


def test_cli_surrogate_params_reach_the_job_and_are_summarized_cleaned(worked: Worked) -> None:
    assert _cli_summary(worked)["surrogate"] == FFFD


def test_cli_10k_key_json_param_reaches_the_job_and_its_summary_is_cut(worked: Worked) -> None:
    assert _cli_summary(worked)["table"] == TEN_K_JSON_AS_PYTHON[:PARAM_TEXT_LIMIT] + CUT


def test_cli_largest_argv_param_reaches_the_job_and_its_summary_is_cut(worked: Worked) -> None:
    assert _cli_summary(worked)["big"] == "x" * PARAM_TEXT_LIMIT + CUT


# -- refused through RunClient.enqueue: nothing recorded ---------------------------------


@dataclass
class Refusing:
    settings: DatabaseSettings
    ledger: RunLedger
    queue: QueueSettings


@pytest.fixture(scope="module")
def refusing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Refusing]:
    """A migrated SQLite ledger (refusals come before any store is written)."""
    settings = DatabaseSettings.from_url(
        f"sqlite:///{tmp_path_factory.mktemp('refused') / 'runledger.db'}"
    )
    list(migrate_all(settings))
    ledger = RunLedger(settings)
    try:
        yield Refusing(
            settings, ledger, QueueSettings(REDIS_URL, f"runledger-test:{uuid.uuid4().hex[:12]}")
        )
    finally:
        ledger.close()


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    # case: (enqueue's arguments, the limit its refusal names)
    "10mb_params": ({"params": {"blob": "x" * (10 * MB)}}, "PARAMS_BYTES_LIMIT"),
    "10mb_in_many_params": (
        {"params": {f"p{i}": "x" * MB for i in range(10)}},
        "PARAMS_BYTES_LIMIT",
    ),
    "1000_levels": ({"params": {"deep": nested(1000)}}, "DEPTH_LIMIT"),
    "33_levels": ({"params": {"deep": nested(DEPTH_LIMIT)}}, "DEPTH_LIMIT"),
    "empty_workspace": ({"workspace": ""}, "NAME_LIMIT"),
    "whitespace_workspace": ({"workspace": " \t "}, "NAME_LIMIT"),
    "padded_workspace": ({"workspace": " acme"}, "NAME_LIMIT"),
    "nul_workspace": ({"workspace": "ac\x00me"}, "NAME_LIMIT"),
    "surrogate_workspace": ({"workspace": "ac\udc80me"}, "NAME_LIMIT"),
    "newline_workspace": ({"workspace": "acme\nforged: line"}, "NAME_LIMIT"),
    "long_workspace": ({"workspace": "w" * MB}, "NAME_LIMIT"),
    "nul_operation_type": ({"operation_type": "hostile.echo\x00"}, "NAME_LIMIT"),
    "long_operation_type": ({"operation_type": "t" * MB}, "NAME_LIMIT"),
    "nul_idempotency_key": ({"idempotency_key": "k\x00"}, "NAME_LIMIT"),
    "empty_idempotency_key": ({"idempotency_key": ""}, "NAME_LIMIT"),
    "surrogate_initiator": ({"initiator": "operator:\ud800"}, "NAME_LIMIT"),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_the_client_refuses_input_past_a_limit_naming_it(
    refusing: Refusing, case: str
) -> None:
    arguments, limit = REFUSED[case]
    call = {"operation_type": "hostile.echo", "workspace": "acme", **arguments}
    operations = load_operations(JOBS)
    before = head_position(refusing.settings)
    async with RunClient(
        refusing.ledger, refusing.queue.client(), operations, queue_name=refusing.queue.queue_name
    ) as client:
        with pytest.raises(InputRefusedError) as refused:
            await client.enqueue(call.pop("operation_type"), **call)
        assert refused.value.limit == limit
        message = f"{refused.value} ({refused.value.hint})"
        assert limit in message and "\n" not in message and len(message) < 600, message
        assert head_position(refusing.settings) == before  # nothing recorded
        assert await client.redis.zcard(refusing.queue.queue_name) == 0  # nothing enqueued
        # The client still works: a normal run right after it is recorded and enqueued.
        run_id = await client.enqueue("hostile.normal", workspace="acme")
        assert refusing.ledger.state(run_id).status == "queued"
        await client.redis.delete(refusing.queue.queue_name)


# -- refused through `runledger enqueue`: one line naming the limit ------------------------


# case: (the arguments of `runledger enqueue`, what its one line names)
CLI_REFUSED: dict[str, tuple[list[str], str]] = {
    "empty_workspace": (["hostile.echo", "--workspace", ""], "NAME_LIMIT"),
    "whitespace_workspace": (["hostile.echo", "--workspace", "   "], "NAME_LIMIT"),
    # Invalid UTF-8 in argv reaches Python as lone surrogates (os.fsencode of "\udcff" is
    # b"\xff"): refused before any command runs, the job could not take it either.
    "invalid_utf8_workspace": (["hostile.echo", "--workspace", "ac\udcffme"], "not valid UTF-8"),
    "invalid_utf8_param": (
        ["hostile.echo", "--workspace", "acme", "--param", "text=\udcff\udcfe"],
        "not valid UTF-8",
    ),
    "1000_levels": (
        ["hostile.echo", "--workspace", "acme", "--param", "d:=" + "[" * 1000 + "]" * 1000],
        "DEPTH_LIMIT",
    ),
    "100_levels": (
        ["hostile.echo", "--workspace", "acme", "--param", "d:=" + "[" * 100 + "]" * 100],
        "DEPTH_LIMIT",
    ),
    # 10 MB cannot pass through argv (Linux caps one argument at 128 KiB and all of them at
    # 2 MiB here): 12 arguments of 120,000 characters are as much, past 1 MiB.
    "too_large_params": (
        ["hostile.echo", "--workspace", "acme"] + [f"--param=p{i}={'x' * ARG}" for i in range(12)],
        "PARAMS_BYTES_LIMIT",
    ),
}


@dataclass
class CliRefused:
    done: dict[str, Any]
    recorded: int  # events in the store after every refused command
    enqueued: int  # jobs in the queue after them


@pytest.fixture(scope="module")
def cli_refused(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRefused]:
    """Every refused command, side by side, over a migrated SQLite store of their own."""
    import redis

    url = f"sqlite:///{tmp_path_factory.mktemp('cli-refused') / 'runledger.db'}"
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    queue_name = f"runledger-test:{uuid.uuid4().hex[:12]}"
    done = run_all(
        {name: ["enqueue", *args] for name, (args, _) in CLI_REFUSED.items()},
        _cli_env(url, queue_name),
    )
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield CliRefused(done, head_position(settings), cast(int, client.zcard(queue_name)))
    finally:
        client.close()


def test_a_refused_cli_enqueue_records_and_enqueues_nothing(cli_refused: CliRefused) -> None:
    assert (cli_refused.recorded, cli_refused.enqueued) == (0, 0)


@pytest.mark.parametrize("case", list(CLI_REFUSED))
def test_the_cli_refuses_input_past_a_limit_in_one_line_naming_it(
    cli_refused: CliRefused, case: str
) -> None:
    done = cli_refused.done[case]
    line = one_clear_line(done.stderr)
    assert done.returncode == 2, done
    assert line.startswith("runledger") and CLI_REFUSED[case][1] in line, line
    assert "RecursionError" not in line and "UnicodeEncodeError" not in line
    assert len(line) < 600 and done.stdout == ""


def test_the_cli_refuses_a_nul_in_the_workspace_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """argv cannot carry NUL: this one runs in-process, before anything is dialled."""
    from runledger.cli import main

    assert main(["enqueue", "hostile.echo", "--workspace", "ac\x00me", "--jobs", JOBS]) == 2
    line = one_clear_line(capsys.readouterr().err)
    assert "NAME_LIMIT" in line and "'ac\\x00me'" in line
