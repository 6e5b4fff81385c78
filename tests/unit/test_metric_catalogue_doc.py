"""The README's metric catalogue is the code's: every metric of CATALOGUE appears in the table of
"## Observability" with its type and labels, and the table lists nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from trading_engine.domain.ports.metrics import CATALOGUE

README = Path(__file__).resolve().parents[2] / "README.md"
NO_LABELS = "—"


def expected_rows() -> dict[str, tuple[str, tuple[str, ...]]]:
    return {name: (spec.kind.value, tuple(spec.labels)) for name, spec in CATALOGUE.items()}


def generated_table() -> str:
    """The table to paste into the README (the meaning column starts as the help text)."""
    lines = ["| Metric | Type | Labels | Meaning |", "| --- | --- | --- | --- |"]
    for name, spec in CATALOGUE.items():
        labels = ", ".join(f"`{label}`" for label in spec.labels) or NO_LABELS
        lines.append(f"| `{name}` | {spec.kind.value} | {labels} | {spec.help} |")
    return "\n".join(lines)


def documented_rows() -> dict[str, tuple[str, tuple[str, ...]]]:
    text = README.read_text()
    section = text.split("\n## Observability\n", 1)
    assert len(section) == 2, "README.md has no '## Observability' section"
    catalogue = section[1].split("\n### Metric catalogue\n", 1)
    assert len(catalogue) == 2, "the Observability section has no '### Metric catalogue'"
    body = catalogue[1].split("\n### ", 1)[0]
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in body.splitlines():
        match = re.match(r"^\| `([a-z_:][a-z0-9_:]*)` \| ([a-z]+) \| ([^|]+) \|", line)
        if match is None:
            continue
        name, kind, labels = match.groups()
        assert name not in rows, f"{name} is listed twice"
        names = () if labels.strip() == NO_LABELS else tuple(re.findall(r"`(\w+)`", labels))
        rows[name] = (kind, names)
    return rows


def test_the_readme_catalogue_lists_every_metric_with_its_type_and_labels() -> None:
    documented = documented_rows()
    expected = expected_rows()
    hint = f"\nregenerate the README table from CATALOGUE:\n\n{generated_table()}\n"
    assert sorted(set(expected) - set(documented)) == [], "metrics missing from the README" + hint
    assert sorted(set(documented) - set(expected)) == [], "README lists metrics the code lacks" + hint
    wrong = {name: (documented[name], row) for name, row in expected.items() if documented[name] != row}
    assert wrong == {}, "README (type, labels) differ from the code's" + hint
