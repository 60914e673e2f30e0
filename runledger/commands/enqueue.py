"""`runledger enqueue`: queue one run; its id is the last line of stdout."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from typing import Any
from uuid import UUID

from ledger import Actor
from ledger.limits import check_name, shown, too_deep
from runledger.commands.options import add_jobs_option
from runledger.settings import Settings
from workers import RunClient, WorkerError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("operation_type", metavar="TYPE", help="an @operation name")
    parser.add_argument("--workspace", required=True, metavar="W")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="K=V",
        help="a job parameter (a string); K:=JSON for a typed value; repeatable",
    )
    parser.add_argument("--idempotency-key", metavar="K", help="the same key, the same run")
    add_jobs_option(parser)


def parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise WorkerError(f"--param {shown(pair)} is not K=V", hint="e.g. --param tenant=t1")
        if key.endswith(":"):
            params[key[:-1]] = _json_value(pair, value)
        else:
            params[key] = value
    return params


def _json_value(pair: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:
        raise WorkerError(
            f"--param {shown(pair)}: the value is not JSON ({error.msg} at character "
            f"{error.pos:,})",
            hint='e.g. --param \'tags:=["a", "b"]\'',
        ) from None
    except ValueError as error:  # an integer past Python's 4,300-digit limit
        raise WorkerError(f"--param {shown(pair)}: {error}") from None
    except RecursionError:  # the stdlib parser recurses once per level
        raise too_deep(f"--param {shown(pair)}") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Refused before anything is dialled: a blank workspace is the caller's to fix.
    check_name("operation type", args.operation_type)
    check_name("workspace", args.workspace)
    if args.idempotency_key is not None:
        check_name("idempotency key", args.idempotency_key)
    jobs = settings.jobs(args.jobs)
    if not jobs:
        raise WorkerError(
            "enqueue needs the jobs module to know the operation's policy",
            hint="pass --jobs MODULE or set RUNLEDGER_JOBS",
        )
    params = parse_params(args.param)
    run_id = asyncio.run(_enqueue(jobs, args, params))
    print(run_id)
    return 0


async def _enqueue(jobs: str, args: argparse.Namespace, params: dict[str, Any]) -> UUID:
    async with RunClient.from_env(jobs) as client:
        return await client.enqueue(
            args.operation_type,
            workspace=args.workspace,
            params=params,
            idempotency_key=args.idempotency_key,
            initiator=Actor.operator(getpass.getuser()),
        )
