"""Re-make assets/07_demo.png: the chapter-07 demo in headless Chromium, verifying a test pair.

    python assets/make_07_demo.py [--service output/full/deploy/service.json]

Runs the demo on notebook 07's full-mode service, uploads the two original LFW photos of the
first same-person pair of LFW's folds 2-4 (chapter 07's test pairs) that it calls the same
person, and saves the page. It prints the pair and how many same-person pairs it tried.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default=str(REPO / "output" / "full" / "deploy" / "service.json"))
    parser.add_argument("--out", default=str(REPO / "assets" / "07_demo.png"))
    args = parser.parse_args()

    from pyimagesearch.datasets import load_lfw, load_lfw_pairs
    from pyimagesearch.demo import build_app, free_port, load_service, verify_in_browser

    service = load_service(args.service)
    pairs = load_lfw_pairs()
    lefts, rights = pairs.paths(Path(load_lfw().paths[0]).parents[1])
    tried, chosen = 0, None
    for row in np.flatnonzero((np.asarray(pairs.folds) >= 2) & (np.asarray(pairs.labels) == 1)):
        tried += 1
        *_, verdict = service.verify(str(lefts[row]), str(rights[row]))
        if verdict.startswith("Same person"):
            chosen = (str(lefts[row]), str(rights[row]), verdict)
            break
    if chosen is None:
        print("no same-person test pair is verified right", file=sys.stderr)
        return 1
    photo_a, photo_b, verdict = chosen
    print(f"shown: {Path(photo_a).name} and {Path(photo_b).name}, same-person test pair {tried}: {verdict}")

    app = build_app(service)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        shown = verify_in_browser(f"http://127.0.0.1:{port}", photo_a, photo_b,
                                  chromium=shutil.which("chromium"), screenshot=args.out, timeout_s=120)
    finally:
        app.close()
    if shown != verdict:
        print(f"the page says {shown!r}, the service {verdict!r}", file=sys.stderr)
        return 1
    print(f"wrote {Path(args.out).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
