"""``report.html``: one self-contained page (the picture inlined), the statistics and the fills."""

from __future__ import annotations

import base64
import csv
import html
from pathlib import Path
from typing import Any

MAX_FILL_ROWS = 500


def write_page(out: Path, report: dict[str, Any], picture: Path, fills_csv: Path) -> None:
    image = base64.b64encode(picture.read_bytes()).decode()
    stats = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{html.escape(_text(report[key]))}</td></tr>"
        for key in sorted(report) if key not in {"params", "data", "elapsed_seconds", "events_per_second"}
    )
    params = ", ".join(f"{k}={v}" for k, v in sorted(report["params"].items())) or "defaults"
    with fills_csv.open(encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [row for _, row in zip(range(MAX_FILL_ROWS), reader)]
    fills = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    more = report["fills"] - len(rows)
    title = f"Backtest: {report['strategy']} on {report['symbol']}"
    out.write_text(f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; font-variant-numeric: tabular-nums; }}
th {{ text-align: left; background: #f4f4f4; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Parameters: {html.escape(params)}. Data: {html.escape(", ".join(report["data"]))}.</p>
<img alt="equity curve with drawdown, entries and exits" src="data:image/png;base64,{image}">
<h2>Statistics</h2>
<table>{stats}</table>
<h2>Fills</h2>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in header)}</tr>{fills}</table>
{f"<p>… and {more} more in fills.csv.</p>" if more > 0 else ""}
</body></html>
""", encoding="utf-8")


def _text(value: Any) -> str:
    return "—" if value is None else str(value)
