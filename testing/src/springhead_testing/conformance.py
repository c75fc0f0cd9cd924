"""The CloudEvents conformance suite's HTTP-binding cases (cloudevents/conformance's Gherkin
feature files), read into plain tuples for parametrised tests."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

__all__ = ["HttpCase", "http_binding_cases"]

#: (name, raw HTTP request, expected attributes, expected data)
HttpCase = tuple[str, str, dict[str, str], object]


def http_binding_cases(feature: Path) -> list[HttpCase]:
    """Each Scenario Outline of ``feature`` once per Examples row, its placeholder filled in."""
    cases: list[HttpCase] = []
    for outline in feature.read_text().split("Scenario Outline:")[1:]:
        name = outline.splitlines()[0].strip()
        blocks = re.findall(r'"""\n(.*?)\n\s*"""', outline, re.DOTALL)
        request, data = textwrap.dedent(blocks[0]), json.loads(textwrap.dedent(blocks[1]))
        table = outline.split("Then the attributes are:")[1].split("And the data")[0]
        rows = [line.strip().strip("|").split("|") for line in table.strip().splitlines()]
        attributes = {key.strip(): value.strip() for key, value in rows[1:]}
        examples = outline.split("Examples:")[1].strip().splitlines()
        placeholder = examples[0].strip().strip("|").strip()
        for row in examples[1:]:
            value = row.strip().strip("|").strip()
            filled = {k: v.replace(f"<{placeholder}>", value) for k, v in attributes.items()}
            cases.append(
                (f"{name} / {value}", request.replace(f"<{placeholder}>", value), filled, data)
            )
    return cases
