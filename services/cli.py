"""The `mmx` command: run the local stack, one service, or an operator verb.

mmx up [--fresh] [--no-demo] [--with-prometheus] ...  the local stack; Ctrl-C stops it
mmx service NAME [--host H] [--port P]  one service in the foreground
mmx status | orders | positions         what the gateway says (see services.operator)
mmx freeze | unfreeze --reason TEXT     stop or resume trading
mmx keys create | list | revoke         the gateway's API keys (see services.keys_cli)
mmx dlq list | show | replay | drop     the dead letters (see services.dlq_cli)
mmx audit query | replay                the audit archive (see services.audit_cli)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from services.audit_cli import register as register_audit_verbs
from services.dlq_cli import register as register_dlq_verbs
from services.keys_cli import register as register_key_verbs
from services.migrate_cli import register_migrate_verbs
from services.operator import register as register_operator_verbs
from services.up import register as register_up
from services.up_plan import MODULES, redact_url

__all__ = ["SERVICES", "build_parser", "main", "redact_url"]


def _service_entry(module: str) -> Callable[[Sequence[str]], None]:
    def run(argv: Sequence[str]) -> None:
        main: Callable[[Sequence[str]], None] = importlib.import_module(f"{module}.__main__").main
        main(list(argv))

    return run


SERVICES: dict[str, Callable[[Sequence[str]], None]] = {
    name: _service_entry(module) for name, module in MODULES.items()
}
"""`mmx service NAME argv`: each calls `services.<name>.__main__.main(argv)`, imported lazily."""


def _service(args: argparse.Namespace) -> int:
    argv = [
        *(["--host", args.host] if args.host else []),
        *(["--port", str(args.port)] if args.port else []),
    ]
    SERVICES[args.name](argv)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmx", description="mmx execution engine")
    commands = parser.add_subparsers(dest="command", required=True)
    register_up(commands)
    service = commands.add_parser("service", help="run one service in the foreground")
    service.add_argument("name", choices=list(SERVICES))
    service.add_argument("--host")
    service.add_argument("--port", type=int)
    service.set_defaults(func=_service)
    register_operator_verbs(commands)
    register_key_verbs(commands)
    register_dlq_verbs(commands)
    register_audit_verbs(commands)
    register_migrate_verbs(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
