"""`runledger enqueue`: queue one run; its id is the last line of stdout."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from typing import Any
from uuid import UUID

from ledger import Actor
from runledger.commands.options import add_jobs_option
from workers import RunClient, WorkerError
from workers.settings import jobs_from_env

NAME = "enqueue"
HELP = "queue a run of an operation type and print its run id"


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
            raise WorkerError(f"--param {pair!r} is not K=V", hint="e.g. --param tenant=t1")
        if key.endswith(":"):
            try:
                params[key[:-1]] = json.loads(value)
            except json.JSONDecodeError as error:
                raise WorkerError(f"--param {pair!r}: the value is not JSON ({error})") from None
        else:
            params[key] = value
    return params


def run(args: argparse.Namespace) -> int:
    jobs = jobs_from_env(args.jobs)
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
