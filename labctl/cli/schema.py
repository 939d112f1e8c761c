"""`labctl schema`: the JSON Schema of lab.yaml, for editors and CI linters."""

from __future__ import annotations

from labctl.cli.output import OUT


def schema() -> None:
    """Print the JSON Schema of the lab spec."""
    from labctl.spec.model import Lab  # noqa: PLC0415 - lazy: keeps --help fast

    document = Lab.model_json_schema()
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://labctl.dev/schema/lab-v1.json",
        **document,
    }
    OUT.json(document)
