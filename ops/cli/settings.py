"""``llm-shield settings``: every setting with its effective value and environment variable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
import orjson

from llm_shield.ops.cli.common import command_settings, settings_options


@click.command("settings")
@settings_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def show_settings(
    config_file: Path | None, broker: str | None, assignments: Sequence[str], as_json: bool
) -> None:
    """Print every setting: its effective value and its environment variable."""
    from llm_shield.streams.config import env_name, setting_names, shown_value

    settings = command_settings(config_file, broker, assignments)
    values = {name: shown_value(settings, name) for name in setting_names()}
    if as_json:
        plain = {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
        click.echo(orjson.dumps(plain).decode())
        return
    width = max(len(name) for name in values)
    for name, value in values.items():
        click.echo(f"{name:<{width}}  {value!s:<32}  {env_name(name)}")
