"""Each notebook's final numbers, saved as JSON so the course runner can summarise them."""

from __future__ import annotations

import json
import time

from pyimagesearch.config import Settings, output_root, relative_to_repo


def save_results(chapter: str, metrics: dict, settings: Settings) -> None:
    """Write a notebook's final numbers to ``output/<mode>/results/<chapter>.json`` and say where."""
    from pyimagesearch.devices import machine_description

    record = {"chapter": chapter, "mode": settings.mode, "seed": settings.seed,
              "machine": machine_description(), "finished": time.strftime("%Y-%m-%d %H:%M"),
              "minutes": round(settings.minutes(), 2), "metrics": metrics}
    path = settings.output_dir / "results" / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=float))
    print(f"results saved to {relative_to_repo(path)}; the notebook ran for {settings.minutes():.1f} min "
          f"in {settings.mode} mode")


def load_results(mode: str = "full") -> list[dict]:
    """All saved results of one mode, in chapter order."""
    folder = output_root() / mode / "results"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def _format(value) -> str:
    """A metric for a table: floats with four significant digits."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    """A Markdown table with one row per dict; columns in the order the keys first appear."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_format(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def summary_table(records: list[dict]) -> str:
    """A Markdown table with one row per chapter and metric."""
    rows = [{"chapter": r["chapter"], "metric": name, "value": value}
            for r in records for name, value in r["metrics"].items()]
    table = markdown_table(rows)
    if records:
        table += f"\n\nMode: {records[0]['mode']}; machine: {records[0]['machine']}."
    return table
