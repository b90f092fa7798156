"""The chapter-07 web demo: through Gradio's client and in a real browser (headless Chromium)."""

from __future__ import annotations

import os
import shutil
import time

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
    from playwright.sync_api import sync_playwright

    url, service, enrolled = demo
    photo = str(photos[enrolled[1]][0])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#photo_a input[type=file]").set_input_files(photo)
        page.locator("#photo_b input[type=file]").set_input_files(photo)
        page.wait_for_timeout(1000)
        page.locator("#verify").click()
        verdict = page.locator("#verdict textarea")
        deadline = time.monotonic() + 60
        while not verdict.input_value() and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        text = verdict.input_value()
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        browser.close()
    assert text == f"Same person: distance 0.000 (threshold {service.threshold:.3f})"
    assert np.frombuffer((tmp_path / "demo.png").read_bytes()[:8], np.uint8).tolist()[:4] == [137, 80, 78, 71]
