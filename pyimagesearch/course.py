"""Run the whole course: every notebook in order, outputs saved, results summarised.

    python -m pyimagesearch.course            # full mode (the real results)
    python -m pyimagesearch.course --quick    # quick mode (what CI runs)
    python -m pyimagesearch.course --from 04  # start at a chapter
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from pyimagesearch.config import QUICK_ENV, REPO_ROOT
from pyimagesearch.results import load_results, summary_table


def notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The course's notebooks in reading order: chapter folders 00, 01, ... then file names."""
    found = [p for p in root.glob("[0-9][0-9]*.ipynb")] + list(root.glob("[0-9][0-9]_*/*.ipynb"))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


# TensorFlow's C++ start-up lines, which no environment variable silences in TF 2.21.
_TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \S+\s+\d+ \S+\.cc:\d+\]"
                          r"|To enable the following instructions)")


def drop_tf_log_lines(notebook) -> None:
    """Remove TensorFlow's C++ log lines from a notebook's stderr outputs (lean saved outputs)."""
    for cell in notebook.cells:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("name") == "stderr":
                lines = [line for line in output.text.splitlines(True) if not _TF_LOG_LINE.match(line)]
                output.text = "".join(lines)
                if not output.text.strip():
                    continue
            kept.append(output)
        if cell.cell_type == "code":
            cell.outputs = kept


def run_notebook(path: Path) -> float:
    """Execute a notebook in its own folder, save it with its outputs, return the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=None, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        drop_tf_log_lines(notebook)
        nbformat.write(notebook, path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the selected notebooks, then print the results table of this mode."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="quick mode (small subsets, few epochs)")
    parser.add_argument("--from", dest="start", default="", help="first chapter to run, e.g. 04")
    args = parser.parse_args(argv)
    os.environ[QUICK_ENV] = "1" if args.quick else "0"
    selected = [p for p in notebooks() if p.relative_to(REPO_ROOT).parts[0][:2] >= args.start[:2]]
    for number, path in enumerate(selected, start=1):
        print(f"[{number}/{len(selected)}] {path.relative_to(REPO_ROOT)} ...", flush=True)
        print(f"    done in {run_notebook(path) / 60:.1f} min", flush=True)
    print(summary_table(load_results("quick" if args.quick else "full")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
