"""The written contracts of what the worker emits and the gateway answers: JSON Schemas and the
OpenAPI document, kept in ``streams/schemas`` and printed by ``llm-shield schema NAME``.

Consumers validate against these files; the tests validate every record the worker emits and
every HTTP response against them, so the files cannot drift from the code unnoticed.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

# name -> file; what each topic's records (or the gateway) follow
SCHEMAS = {
    "event": "event.schema.json",
    "verdict": "verdict.schema.json",
    "alert": "alert.schema.json",
    "deadletter": "deadletter.schema.json",
    "scanner": "scanner.schema.json",
    "error": "error.schema.json",
    "policy": "policy.schema.json",
    "stats": "stats.schema.json",
    "openapi": "openapi.json",
}
BASE_URI = "https://llm-shield.example/schemas/"


def schema_text(name: str) -> bytes:
    """The document as it is kept in the repository (``KeyError`` for an unknown name)."""
    return resources.files("llm_shield.streams").joinpath("schemas", SCHEMAS[name]).read_bytes()


def load_schema(name: str) -> dict[str, Any]:
    return orjson.loads(schema_text(name))


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every JSON Schema by its ``$id`` (what a validator's registry needs to follow ``$ref``)."""
    out = {}
    for name in SCHEMAS:
        if name == "openapi":
            continue
        document = load_schema(name)
        out[document["$id"]] = document
    return out
