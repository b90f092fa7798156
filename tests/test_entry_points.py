"""Every command-line tool prints only its own lines, on any CPU: its stderr after ``--help`` or a bad
input is the tool's message alone, with nothing of TensorFlow's start-up logging before it, and bad
inputs are refused before any model is loaded or downloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyimagesearch.config import REPO_ROOT

TOOLS = ["course", "crop_faces", "demo", "notebooks", "serving"]

# Runs a tool's main module as ``python -m`` would, then records which heavy libraries it imported.
DRIVER = """
import json, runpy, sys
tool, record, *sys.argv[1:] = sys.argv[1:]
sys.argv[0] = tool
try:
    runpy.run_module(f"pyimagesearch.{tool}", run_name="__main__", alter_sys=True)
finally:
    with open(record, "w") as out:
        json.dump(sorted(m for m in ("tensorflow", "keras") if m in sys.modules), out)
"""


def run_tool(tool: str, *args: str, tmp_path: Path,
             env: dict | None = None) -> tuple[subprocess.CompletedProcess, list]:
    """The tool run in a fresh interpreter with nothing set to quieten TensorFlow; (result, imported)."""
    record = tmp_path / f"{tool}-imported.json"
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(env or {})
    result = subprocess.run([sys.executable, "-c", DRIVER, tool, str(record), *args], capture_output=True,
                            text=True, timeout=300, cwd=REPO_ROOT, env=environment)
    return result, json.loads(record.read_text())


def test_every_main_module_is_tested_here():
    mains = sorted(p.stem for p in (REPO_ROOT / "pyimagesearch").glob("*.py")
                   if 'if __name__ == "__main__":' in p.read_text())
    assert mains == TOOLS


@pytest.mark.parametrize("tool", TOOLS)
def test_help_prints_nothing_on_stderr_and_loads_no_tensorflow(tool, tmp_path):
    result, imported = run_tool(tool, "--help", tmp_path=tmp_path)
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout.startswith("usage: ")
    assert imported == []


def one_line(result: subprocess.CompletedProcess) -> str:
    """The tool's stderr, which must be exactly one line."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_serving_refuses_a_bad_photo_before_the_detector_is_downloaded(tmp_path):
    photo = tmp_path / "bad.jpg"
    photo.write_text("not an image")
    # No mirror and an empty cache: a detector load would have to download (and print that it does).
    env = {"SIAMESE_DATA_DIR": "", "SIAMESE_CACHE_DIR": str(tmp_path / "cache")}
    result, imported = run_tool("serving", "verify", str(photo), str(photo), tmp_path=tmp_path, env=env)
    assert result.returncode == 1
    assert one_line(result).startswith(f"error: {photo}: not an image file")
    assert result.stdout == "" and not (tmp_path / "cache").exists()
    assert imported == []


def test_crop_faces_names_a_missing_input_folder(tmp_path):
    missing = tmp_path / "no-such-folder"
    result, imported = run_tool("crop_faces", str(missing), str(tmp_path / "dst"), tmp_path=tmp_path)
    assert result.returncode == 2
    assert one_line(result).startswith(f"crop_faces: error: {missing}")
    assert not (tmp_path / "dst").exists()
    assert imported == []


@pytest.mark.parametrize(("content", "problem"), [(None, "no service file"),
                                                  ("{not json", "not a service file"),
                                                  ('{"size": 112}', "not a service file (no embedding")])
def test_demo_names_a_bad_service_file_before_loading_keras(tmp_path, content, problem):
    service = tmp_path / "service.json"
    if content is not None:
        service.write_text(content)
    result, imported = run_tool("demo", "--service", str(service), tmp_path=tmp_path)
    assert result.returncode == 1
    assert one_line(result).startswith(f"error: {service}: {problem}")
    assert imported == []


def test_course_names_a_selection_that_matches_nothing(tmp_path):
    result, imported = run_tool("course", "--only", "no-such-chapter", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: ")
    assert result.stderr.rstrip().endswith("error: no notebook matches --from/--only")
    assert imported == []


QUIET = """
import os, sys
from pyimagesearch import quiet
{body}
print("error: the tool's own line", file=sys.stderr)
"""


@pytest.mark.parametrize("body", [
    # what TensorFlow's C++ start-up does on some CPUs, written straight to the file descriptor
    "with quiet.native_stderr_silenced():\n"
    "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on\\n')",
    # the real thing: Keras and TensorFlow imported with nothing set to quieten them
    "keras = quiet.import_keras()\nassert keras.ops.convert_to_numpy(keras.ops.ones(2)).sum() == 2",
])
def test_native_start_up_lines_are_silenced_and_the_tool_still_speaks(body):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", QUIET.format(body=body)], capture_output=True, text=True,
                            timeout=300, cwd=REPO_ROOT, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "error: the tool's own line\n"


def test_a_native_write_outside_the_block_still_reaches_stderr():
    code = ("import os\nfrom pyimagesearch import quiet\nwith quiet.native_stderr_silenced():\n    pass\n"
            "os.write(2, b'after\\n')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=REPO_ROOT)
    assert result.stderr == "after\n"
