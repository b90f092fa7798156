"""Run the whole course: every notebook in order, outputs saved, results summarised.

    python -m pyimagesearch.course                      # full mode (the real results)
    python -m pyimagesearch.course --in-place           # full mode, saving the notebooks in place
    python -m pyimagesearch.course --quick              # quick mode (what the tests run)
    python -m pyimagesearch.course --from 04            # start at a chapter
    python -m pyimagesearch.course --only 03_compare-images  # only the notebooks under a path
    python -m pyimagesearch.course --extras             # also the extra runs (Fashion-MNIST)
    python -m pyimagesearch.course --main               # the main paths only, no "going further" notebooks

Executed notebooks are saved under ``output/<mode>/notebooks/``, so a run never touches the
tracked notebooks unless a full run is given ``--in-place``. With ``--extras`` the chapters in
``EXTRA_RUNS`` run again with other parameters (e.g. Fashion-MNIST instead of MNIST); those
copies always go under ``output/<mode>/notebooks/``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from pyimagesearch.config import QUICK_ENV, REPO_ROOT, output_root, relative_to_repo
from pyimagesearch.results import load_results, summary_table

# Chapter folder -> extra runs, each a dict of notebook parameters.
EXTRA_RUNS: dict[str, list[dict]] = {
    "02_keras-siamese-networks": [{"DATASET": "fashion_mnist"}],
    "04_contrastive-loss": [{"DATASET": "fashion_mnist"}],
}

# TensorFlow's C++ start-up lines, which no environment variable silences in TF 2.21.
_TF_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \S+\s+\d+ \S+\.(cc|h):\d+\]"
                          r"|To enable the following instructions|WARNING:tensorflow:)")


def is_going_further(notebook: Path) -> bool:
    """A chapter's "going further" notebook: its number has a letter, e.g. ``04b_in_batch_training``."""
    return re.match(r"^\d+[a-z]_", notebook.name) is not None


def notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The course's notebooks in reading order: chapter folders 00, 01, ... then file names."""
    found = list(root.glob("[0-9][0-9]*.ipynb")) + list(root.glob("[0-9][0-9]_*/*.ipynb"))
    return sorted(found, key=lambda p: p.relative_to(root).parts)


def drop_tf_log_lines(notebook) -> None:
    """Remove TensorFlow's log lines from a notebook's streams, joining the pieces of a stream they split.

    A log line can arrive between two pieces of one ``print`` (``"total:"``, then ``" 5"`` and the
    line's end): once it is gone, neighbouring outputs of one stream are joined, so no line loses its end.
    """
    for cell in notebook.cells:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines = [line for line in output.text.splitlines(True) if not _TF_LOG_LINE.match(line)]
                output.text = "".join(lines)
                if not output.text:
                    continue
                previous = kept[-1] if kept else {}
                if previous.get("output_type") == "stream" and previous.get("name") == output.name:
                    previous.text += output.text
                    continue
            kept.append(output)
        if cell.cell_type == "code":
            cell.outputs = [o for o in kept if o.get("output_type") != "stream" or o.text.strip()]


def compress_png_outputs(notebook, colors: int = 256, max_width: int = 640) -> None:
    """Re-encode a notebook's PNG figures with a palette of ``colors``, at most ``max_width`` pixels
    wide, when that makes them smaller."""
    import base64
    import io

    from PIL import Image

    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" not in data:
                continue
            original = base64.b64decode(data["image/png"])
            image = Image.open(io.BytesIO(original)).convert("RGB")
            if image.width > max_width:
                height = round(image.height * max_width / image.width)
                image = image.resize((max_width, height), Image.LANCZOS)
            image = image.quantize(colors=colors)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
            if buffer.tell() < len(original):
                data["image/png"] = base64.b64encode(buffer.getvalue()).decode("ascii")


def relative_papermill_paths(notebook) -> None:
    """Papermill's record of the input and output notebooks, relative to the repository."""
    record = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = relative_to_repo(Path(record[key]))


def relative_output_paths(notebook) -> None:
    """Paths under the repository in a notebook's outputs (e.g. a library's warning), made relative."""
    root = f"{REPO_ROOT}/"
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output.text = output.text.replace(root, "")
            if "text/plain" in output.get("data", {}):
                output.data["text/plain"] = output.data["text/plain"].replace(root, "")
            if "traceback" in output:
                output.traceback = [line.replace(root, "") for line in output.traceback]


def run_notebook(path: Path, target: Path | None = None, parameters: dict | None = None) -> float:
    """Execute a notebook in its folder with papermill, save it (in place by default), return seconds."""
    import nbformat
    import papermill

    from pyimagesearch.quiet import native_stderr_silenced

    target = target or path
    start = time.perf_counter()
    try:
        with native_stderr_silenced():  # the kernel's start-up lines; its cells' output stays in the notebook
            papermill.execute_notebook(path, target, parameters=parameters or None, cwd=path.parent,
                                       kernel_name="python3", progress_bar=False)
    finally:
        if target.exists():
            notebook = nbformat.read(target, as_version=4)
            drop_tf_log_lines(notebook)
            compress_png_outputs(notebook)
            relative_papermill_paths(notebook)
            relative_output_paths(notebook)
            nbformat.write(notebook, target)
    return time.perf_counter() - start


def runs_from(start: str = "", only: tuple[str, ...] = (), extras: bool = False,
              main: bool = False) -> list[tuple[Path, str, dict | None]]:
    """(notebook, name of its saved copy, parameters) for every run: chapters from ``start`` on
    (``main``: without the "going further" notebooks), or only the notebooks under the paths in
    ``only``, then (``extras``) their extra runs."""
    selected = [p for p in notebooks() if p.relative_to(REPO_ROOT).parts[0][:2] >= start[:2]
                and not (main and is_going_further(p))]
    if only:
        wanted = [(REPO_ROOT / o).resolve() for o in only]
        selected = [p for p in selected if any(p == w or w in p.parents for w in wanted)]
    runs = [(path, path.name, None) for path in selected]
    for path in selected if extras else ():
        for parameters in EXTRA_RUNS.get(path.parent.name, []):
            suffix = "-".join(str(v) for v in parameters.values())
            runs.append((path, f"{path.stem}-{suffix}.ipynb", parameters))
    return runs


def main(argv: list[str] | None = None) -> int:
    """Run the selected notebooks, then print the results table of this mode and the wall time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="quick mode (small subsets, few epochs)")
    parser.add_argument("--from", dest="start", default="", help="first chapter to run, e.g. 04")
    parser.add_argument("--only", nargs="+", default=(), metavar="PATH",
                        help="run only the notebooks under these paths (relative to the repository)")
    parser.add_argument("--extras", action="store_true",
                        help="also the extra runs: " + ", ".join(f"{folder} with {params}" for folder, runs
                                                                  in EXTRA_RUNS.items() for params in runs))
    parser.add_argument("--main", action="store_true", help='main paths only, no "going further" notebooks')
    parser.add_argument("--in-place", action="store_true",
                        help="full mode: save the course's notebooks in place with their outputs")
    args = parser.parse_args(argv)
    if args.quick and args.in_place:
        parser.error("--in-place saves full-mode runs only; a quick run never touches the notebooks")
    mode = "quick" if args.quick else "full"
    os.environ[QUICK_ENV] = "1" if args.quick else "0"
    runs = runs_from(args.start, tuple(args.only), args.extras, args.main)
    if not runs:
        parser.error("no notebook matches --from/--only")
    began = time.perf_counter()
    for number, (path, name, parameters) in enumerate(runs, start=1):
        if args.in_place and parameters is None:
            target = path
        else:
            target = output_root() / mode / "notebooks" / path.parent.relative_to(REPO_ROOT) / name
            target.parent.mkdir(parents=True, exist_ok=True)
        label = path.relative_to(REPO_ROOT).as_posix() + (f" {parameters}" if parameters else "")
        print(f"[{number}/{len(runs)}] {label} ...", flush=True)
        minutes = run_notebook(path, target, parameters) / 60
        print(f"    done in {minutes:.1f} min, saved as {relative_to_repo(target)}", flush=True)
    print(summary_table(load_results(mode)))
    print(f"{len(runs)} notebooks in {(time.perf_counter() - began) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
