"""``dwsynapse check-config``: validate a config file (schema and cross-checks) and print the resolved
values (schema defaults filled in). With ``device.engine: mumax3`` (and no ``device.stats_file``) it also
checks that the device section can be rendered as a mumax3 script, and fails with a one-line reason
otherwise."""

from __future__ import annotations

import yaml

from dwsynapse.config import ConfigError, load_config
from dwsynapse.settings import device_settings
from dwsynapse.setupcheck import check_setup


def register(sub) -> None:
    from dwsynapse.command import add_common_arguments

    p = sub.add_parser("check-config", help="validate a config file: schema, cross-checks of keys, files and folders")
    add_common_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    config = check_setup(load_config(args.config))
    dev = device_settings(config)
    if dev.engine == "mumax3" and not dev.stats_file:
        from dwsynapse.mx3 import RenderError, check_renderable

        try:
            check_renderable(config)
        except RenderError as exc:
            raise ConfigError(f"{args.config}: device.engine mumax3: {exc}") from None
    print(yaml.safe_dump(config, sort_keys=False), end="")
    print(f"# {args.config}: valid")
    return 0
