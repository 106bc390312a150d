"""``dwsynapse check-config``: validate a config file (schema and cross-checks) and print the resolved values."""

from __future__ import annotations

import yaml

from dwsynapse.config import load_config
from dwsynapse.setupcheck import check_setup


def register(sub) -> None:
    from dwsynapse.cli import add_common_arguments

    p = sub.add_parser("check-config", help="validate a config file: schema, cross-checks of keys, files and folders")
    add_common_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    config = check_setup(load_config(args.config))
    print(yaml.safe_dump(config, sort_keys=False), end="")
    print(f"# {args.config}: valid")
    return 0
