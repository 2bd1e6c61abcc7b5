"""`prov config show | set`: the user's default server (cli/config.py)."""

import json

import click

from cli.common import json_option
from cli.config import KEYS, check_server_url, config_path, read_config, write_config


@click.group()
def config() -> None:
    """Show or set your defaults, e.g. the server (a TOML file in ~/.config/prov)."""


@config.command()
@json_option
def show(as_json: bool) -> None:
    """Print where the config file is and what it sets."""
    path = config_path()
    settings = read_config(path)
    if as_json:
        click.echo(json.dumps({"file": str(path), "settings": settings}, indent=2))
        return
    click.echo(f"config file {path}" + ("" if path.exists() else " (none yet)"))
    for key in KEYS:
        click.echo(f"{key} = {settings[key]}" if key in settings else f"{key}: not set")


@config.command("set")
@click.argument("key", type=click.Choice(sorted(KEYS)))
@click.argument("value")
def set_value(key: str, value: str) -> None:
    """Set KEY to VALUE in the config file, e.g. `prov config set server https://log.example`."""
    path = config_path()
    settings = read_config(path)  # a malformed file is reported, not overwritten
    settings[key] = check_server_url(value)
    write_config(settings, path)
    click.echo(f"{key} = {value} (in {path})")
