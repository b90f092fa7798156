"""The demo under load: N verification requests, C at a time, to its API on localhost.

    python benchmarks/bench_demo_load.py [--requests 200] [--concurrency 8] [--service PATH]

Starts the demo in this process with notebook 07's service file, then sends requests through
gradio_client from C threads: nine in ten are two LFW photos, one in ten a bad upload (a text
file named .jpg) that must come back as a message, not an error. Prints errors, median and 95th
percentile latency.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    from gradio_client import Client, handle_file

    from pyimagesearch.config import output_root
    from pyimagesearch.datasets import load_lfw, load_lfw_pairs
    from pyimagesearch.demo import SERVICE_NAME, build_app, free_port, load_service

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    full = output_root() / "full" / "deploy" / SERVICE_NAME
    quick = output_root() / "quick" / "deploy" / SERVICE_NAME
    parser.add_argument("--service", type=Path, default=full if full.is_file() else quick)
    args = parser.parse_args()

    service = load_service(args.service)
    app = build_app(service)
    app.queue(default_concurrency_limit=args.concurrency)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    root, pairs = load_lfw().root, load_lfw_pairs()
    bad = Path(tempfile.mkdtemp()) / "not_a_photo.jpg"
    bad.write_text("this is not a photo")
    jobs = [(bad, root / pairs.right[i]) if i % 10 == 9 else (root / pairs.left[i], root / pairs.right[i])
            for i in range(args.requests)]
    clients = {}

    def send(job):
        import threading

        client = clients.setdefault(threading.get_ident(), Client(url, verbose=False))
        start = time.perf_counter()
        try:
            *_, verdict = client.predict(*(handle_file(str(p)) for p in job), api_name="/verify")
            expected = "Cannot use this upload" if job[0] == bad else ("Same", "Different")
            ok = verdict.startswith(expected)
            return time.perf_counter() - start, ok, None
        except Exception as error:  # noqa: BLE001  (counted and reported)
            return time.perf_counter() - start, False, f"{type(error).__name__}: {error}"

    begin = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        results = list(pool.map(send, jobs))
    wall = time.perf_counter() - begin
    app.close()
    seconds = np.array([r[0] for r in results])
    errors = [r[2] for r in results if r[2]]
    wrong = sum(1 for r in results if not r[1] and not r[2])
    n_bad = sum(j[0] == bad for j in jobs)
    print(f"{len(jobs)} requests ({n_bad} bad uploads), {args.concurrency} at a time, "
          f"{wall:.1f} s: {len(errors)} errors, {wrong} wrong answers; latency median "
          f"{np.median(seconds) * 1000:.0f} ms, 95th percentile {np.percentile(seconds, 95) * 1000:.0f} ms, "
          f"{len(jobs) / wall:.1f} requests/s")
    for error in errors[:3]:
        print("  ", error)


if __name__ == "__main__":
    main()
