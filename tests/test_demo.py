"""The chapter-07 web demo: through Gradio's client and in a real browser (headless Chromium)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from pyimagesearch.gallery import FaceGallery

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
pytestmark = pytest.mark.mirror
NO_BROWSER = ("needs a Chromium browser: install the system's (Debian/Ubuntu: sudo apt-get install chromium) "
              "or Playwright's (.venv/bin/python -m playwright install chromium)")


def chromium() -> str | None:
    """The system's Chromium, else the one ``playwright install chromium`` downloaded, else None."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        bundled = p.chromium.executable_path
    return bundled if os.path.isfile(bundled) else None


CHROMIUM = chromium()


@pytest.fixture(scope="module")
def photos():
    from pyimagesearch.datasets import load_lfw

    folder = load_lfw()
    by_person = {}
    for path, person in zip(folder.paths, folder.identities, strict=True):
        by_person.setdefault(person, []).append(path)
    return {name: paths for name, paths in by_person.items() if len(paths) >= 2}


@pytest.fixture(scope="module")
def demo(photos):
    from test_deploy import SIZE, tiny_embedding

    from pyimagesearch.demo import FaceService, build_app, free_port

    gallery = FaceGallery(threshold=0.05)
    service = FaceService(tiny_embedding(), SIZE, threshold=0.05, gallery=gallery)
    for name in sorted(photos)[:3]:
        gallery.enrol(name, service.embed(service.face(photos[name][0])))
    app = build_app(service)
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", service, sorted(photos)[:3]
    app.close()


def test_client_verifies_identifies_and_reports_a_bad_upload(demo, photos, tmp_path):
    from gradio_client import Client, handle_file

    url, service, enrolled = demo
    client = Client(url, verbose=False)
    photo = str(photos[enrolled[0]][0])
    *_, verdict = client.predict(handle_file(photo), handle_file(photo), api_name="/verify")
    assert verdict == f"Same person: distance 0.000 (threshold {service.threshold:.3f})"
    _, names = client.predict(handle_file(photo), 2, api_name="/identify")
    assert names.splitlines()[0] == f"1. {enrolled[0].replace('_', ' ')}: distance 0.000"
    bad = tmp_path / "notes.png"
    bad.write_text("not a photo")
    *_, verdict = client.predict(handle_file(str(bad)), handle_file(photo), api_name="/verify")
    assert verdict.startswith("Cannot use this upload: ")


@pytest.mark.skipif(CHROMIUM is None, reason=NO_BROWSER)
def test_browser_uploads_two_photos_and_reads_the_verdict(demo, photos, tmp_path):
    from pyimagesearch.demo import verify_in_browser

    url, service, enrolled = demo
    photo = str(photos[enrolled[1]][0])
    text = verify_in_browser(url, photo, photo, chromium=CHROMIUM, screenshot=tmp_path / "demo.png")
    assert text == f"Same person: distance 0.000 (threshold {service.threshold:.3f})"
    assert np.frombuffer((tmp_path / "demo.png").read_bytes()[:8], np.uint8).tolist()[:4] == [137, 80, 78, 71]


def test_a_fresh_process_loads_a_service_whose_embedding_flip_averages(tmp_path):
    """Chapter 05.2's embedding holds its MirrorImage layer: the demo must register it before loading."""
    import json
    import subprocess
    import sys

    import keras
    from test_deploy import SIZE, tiny_embedding

    from pyimagesearch.models import MirrorImage

    inner = tiny_embedding()
    face = keras.Input((SIZE, SIZE, 3))
    both = keras.layers.Add()([inner(face), inner(MirrorImage()(face))])
    keras.Model(face, keras.layers.UnitNormalization()(both)).save(tmp_path / "face_embedding.keras")
    FaceGallery(threshold=0.5).save(tmp_path / "gallery.npz")
    (tmp_path / "service.json").write_text(json.dumps(
        {"embedding": "face_embedding.keras", "size": SIZE, "threshold": 0.5, "gallery": "gallery.npz"}))
    code = ("import sys; from pyimagesearch.demo import load_service; "
            "print(load_service(sys.argv[1]).embedding.output_shape)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "service.json")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "(None, 16)"
