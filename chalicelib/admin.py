"""Operator commands: `python -m chalicelib.admin <command> ...`.

Commands: create-tenant, issue-key, list-keys, revoke-key, redrive-webhooks, refresh-intel.

On AWS it reads the same environment as the Lambdas (PERIMETER_TABLE, PERIMETER_KEY_PEPPER, AWS_*).
With neither PERIMETER_TABLE nor AWS_ENDPOINT_URL set (or with PERIMETER_DATA_DIR set) it works on the
embedded stack's data directory, running or stopped, with no other environment: its table, its pepper,
and for redrive-webhooks the running stack's queues (from `stack.json`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path

from chalicelib.access.roles import LEGACY_KEY_ROLE, Role
from chalicelib.bootstrap import Services, get_services
from chalicelib.core.errors import ConfigurationError, PerimeterError, ServiceUnavailable
from chalicelib.core.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.admin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tenant = sub.add_parser("create-tenant", help="create a tenant and its first API key")
    tenant.add_argument("tenant_id")
    tenant.add_argument("--name", required=True)
    tenant.add_argument("--ready-threshold", type=int, default=65)
    tenant.add_argument("--rate-limit", type=int, default=None, help="requests per minute per key")
    issue = sub.add_parser("issue-key", help="issue another key (rotation); printed once")
    issue.add_argument("tenant_id")
    issue.add_argument("--name", default="")
    issue.add_argument("--role", choices=[r.value for r in Role], default=LEGACY_KEY_ROLE.value,
                       help="the key's role (default owner: a service key with every right)")
    issue.add_argument("--member-id", default=None, help="the member the key belongs to (default: none, a service "
                                                         "key); the member's role changes follow it")
    listing = sub.add_parser("list-keys", help="list a tenant's keys (never the keys themselves)")
    listing.add_argument("tenant_id")
    revoke = sub.add_parser("revoke-key", help="revoke a key at once")
    revoke.add_argument("tenant_id")
    revoke.add_argument("key_id")
    # -- webhooks
    redrive = sub.add_parser("redrive-webhooks", help="move dead-lettered webhook deliveries back to the queue "
                                                      "(each starts a new attempt cycle)")
    redrive.add_argument("--max", type=int, default=None, help="move at most this many messages (default: all)")
    # -- exposure intelligence
    intel = sub.add_parser("refresh-intel", help="rebuild the intel data (KEV, endoflife.date) from the live feeds "
                                                 "and store it as a new version; the current data stays on failure")
    where = intel.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write the new version under this directory (PERIMETER_INTEL_DIR)")
    where.add_argument("--s3", action="store_true", help="write it to the reports bucket under "
                                                          "PERIMETER_INTEL_S3_PREFIX (default `intel`)")
    return parser


def run(argv: Sequence[str], services: Services) -> dict[str, object]:
    """Execute one command and return what to print; raises PerimeterError."""
    args = _parser().parse_args(argv)
    if args.command == "redrive-webhooks":  # -- webhooks
        return _redrive_webhooks(services, args.max)
    if args.command == "refresh-intel":  # -- exposure intelligence
        return services.refresh_intel(args.out)
    auth = services.auth
    if args.command == "create-tenant":
        tenant = auth.create_tenant(args.tenant_id, args.name, ready_threshold=args.ready_threshold,
                                    rate_limit_per_minute=args.rate_limit)
        record, key = auth.issue_key(tenant.tenant_id, name="initial")
        return {"tenant_id": tenant.tenant_id, "key_id": record.key_id, "api_key": key,
                "note": "The key is shown once; store it now."}
    if args.command == "issue-key":
        record, key = auth.issue_key(args.tenant_id, name=args.name, role=Role(args.role), member_id=args.member_id)
        return {"key_id": record.key_id, "role": record.role.value, "member_id": record.member_id, "api_key": key,
                "note": "The key is shown once; store it now."}
    if args.command == "list-keys":
        return {"keys": [k.model_dump(mode="json", exclude={"key_hash"}) for k in auth.list_keys(args.tenant_id)]}
    revoked = auth.revoke_key(args.tenant_id, args.key_id)
    return {"key_id": revoked.key_id, "revoked_at": revoked.revoked_at.isoformat() if revoked.revoked_at else None}


# -- webhooks ------------------------------------------------------------------------------
def _redrive_webhooks(services: Services, max_messages: int | None) -> dict[str, object]:
    """DLQ -> queue; raises BadRequest for a bad --max, QueueUnavailable."""
    from chalicelib.core.errors import BadRequest
    from chalicelib.webhooks.redrive import redrive

    if max_messages is not None and max_messages < 1:
        raise BadRequest("--max must be at least 1.", code="invalid-argument")
    report = redrive(services.webhook_dlq, services.webhook_queue, services.webhook_repository,
                     max_messages=max_messages)
    return dict(report.as_dict())


# -- the embedded stack ----------------------------------------------------------------------
def is_local(environ: Mapping[str, str]) -> bool:
    """True when the CLI should work on the embedded stack's data directory."""
    if environ.get("PERIMETER_DATA_DIR"):
        return True
    return not environ.get("PERIMETER_TABLE") and not environ.get("AWS_ENDPOINT_URL")


def local_environment(environ: MutableMapping[str, str], command: str) -> None:
    """Point `environ` at the embedded stack's data directory (and its running stack for redrive-webhooks).

    Raises ConfigurationError when there is no data directory yet, ServiceUnavailable when
    redrive-webhooks finds no running stack.
    """
    from chalicelib.local import datadir
    from chalicelib.local.stack import FAKE_CREDENTIALS

    path = datadir.default_data_dir(environ)
    if not (path / datadir.PEPPER_FILE).exists():
        raise ConfigurationError(f"No Perimeter data in {path}: start the embedded stack once (`make run`), "
                                 f"or set {datadir.ENV_VAR} (or PERIMETER_TABLE and AWS_* for AWS).")
    try:
        environ.setdefault("PERIMETER_KEY_PEPPER", datadir.read_pepper(path))
    except datadir.DataDirError as exc:
        raise ConfigurationError(str(exc)) from None
    environ[datadir.ENV_VAR] = str(path)
    for name, value in FAKE_CREDENTIALS.items():
        environ.setdefault(name, value)
    if command == "redrive-webhooks":
        info = datadir.read_stack_info(path)
        if info is None:
            raise ServiceUnavailable(f"The embedded stack is not running on {path}: its webhook queues live in "
                                     "memory while it runs. Start it (`make run`) and try again.",
                                     code="stack-not-running")
        environ.update(info.env())


# refresh-intel --out touches neither the table nor the bucket: it needs no data directory and no key pepper.
_NO_PEPPER = "refresh-intel-uses-no-pepper"


def _needs_no_stack(args: Sequence[str]) -> bool:
    return bool(args) and args[0] == "refresh-intel" and "--s3" not in args


def _standalone_services(environ: Mapping[str, str]) -> Services:
    """Services from the environment alone (no data directory); a placeholder pepper when none is set."""
    pepper = {} if environ.get("PERIMETER_KEY_PEPPER") else {"key_pepper": _NO_PEPPER}
    return Services(Settings.from_env(environ, **pepper))


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: prints JSON; exit 1 with a message on a known error."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if _needs_no_stack(args):
            result = run(args, _standalone_services(os.environ))
        else:
            if is_local(os.environ):
                local_environment(os.environ, next((a for a in args if not a.startswith("-")), ""))
            result = run(args, get_services())
    except PerimeterError as error:
        print(json.dumps({"code": error.code, "error": error.detail}), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
