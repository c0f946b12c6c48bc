"""``llm-shield schema NAME``: the JSON Schema of a topic's records, or the gateway's OpenAPI."""

from __future__ import annotations

import sys

import click

from llm_shield.streams.contracts import SCHEMAS, schema_text


@click.command()
@click.argument("name", type=click.Choice(sorted(SCHEMAS)))
def schema(name: str) -> None:
    """Print a contract as kept in the repository: event (the input topics), verdict, alert,
    deadletter, scanner (a verdict's per-scanner part), error (HTTP refusals), policy (a tenant
    policy record), stats (a stats window), openapi (the HTTP gateway)."""
    sys.stdout.buffer.write(schema_text(name))
    sys.stdout.buffer.flush()
