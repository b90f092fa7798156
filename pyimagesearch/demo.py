"""A web demo of chapter 07: verify two photos, identify a photo against a gallery (Gradio).

    python -m pyimagesearch.demo [--service output/full/deploy/service.json] [--port 7860]

The service file is what notebook 07 writes: the face embedding, its input size, the verification
threshold chosen on validation pairs and the gallery of enrolled people.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pyimagesearch.gallery import FaceGallery

SERVICE_NAME = "service.json"


@dataclass
class FaceService:
    """Everything the demo answers with: detector, embedding, threshold and gallery."""

    embedding: object  # keras.Model
    size: int
    threshold: float
    gallery: FaceGallery
    detector: object = None  # FaceDetector, made on first use
    # OpenCV's networks are not thread-safe and Gradio answers requests from several threads
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def face(self, path: str | Path) -> np.ndarray:
        """The photo's face as the embedding expects it (errors name the photo)."""
        from pyimagesearch.face_detection import FaceDetector, face_from_photo

        with self.lock:
            if self.detector is None:
                self.detector = FaceDetector()
            return face_from_photo(path, self.detector, self.size)

    def embed(self, face: np.ndarray) -> np.ndarray:
        """One face's embedding."""
        with self.lock:
            return np.asarray(self.embedding(face[None].astype("float32"), training=False))[0]

    def verify(self, path_a, path_b) -> tuple[np.ndarray | None, np.ndarray | None, str]:
        """Both crops and the verdict, or a one-line message saying what is wrong with an upload."""
        if not path_a or not path_b:
            return None, None, "Upload two photos first."
        try:
            face_a, face_b = self.face(path_a), self.face(path_b)
        except ValueError as error:
            return None, None, f"Cannot use this upload: {_upload_name(error)}"
        distance = float(np.linalg.norm(self.embed(face_a) - self.embed(face_b)))
        same = distance <= self.threshold
        word = "Same person" if same else "Different people"
        return face_a, face_b, f"{word}: distance {distance:.3f} (threshold {self.threshold:.3f})"

    def identify(self, path, k: int = 3) -> tuple[np.ndarray | None, str]:
        """The crop and the top-k people as a markdown list, or a one-line message."""
        if not path:
            return None, "Upload a photo first."
        try:
            face = self.face(path)
        except ValueError as error:
            return None, f"Cannot use this upload: {_upload_name(error)}"
        matches = self.gallery.identify(self.embed(face), int(k))
        lines = [f"{i}. {m.name.replace('_', ' ')}: distance {m.distance:.3f}"
                 for i, m in enumerate(matches, 1)]
        return face, "\n".join(lines)

    def enrol(self, name: str, path) -> str:
        """Enrol one photo under a name; says what happened."""
        if not name or not name.strip() or not path:
            return "Give a name and a photo."
        try:
            self.gallery.enrol(name.strip(), self.embed(self.face(path)))
        except ValueError as error:
            return f"Cannot use this upload: {_upload_name(error)}"
        return f"Enrolled {name.strip()}; the gallery holds {len(self.gallery):,} faces."


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _upload_name(error: Exception) -> str:
    """An error about an upload, with Gradio's temporary folder left out of the file name."""
    text = str(error)
    head, sep, tail = text.partition(": ")
    return f"{Path(head).name}: {tail}" if sep else text


def load_service(path: str | Path) -> FaceService:
    """The service notebook 07 saved (``service.json`` beside its embedding and gallery)."""
    from pyimagesearch.quiet import import_keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no service file; run notebook 07_deploy first")
    try:
        record = json.loads(path.read_text())
        missing = {"embedding", "gallery", "size", "threshold"} - set(record)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: not a service file ({error})") from None
    if missing:
        raise ValueError(f"{path}: not a service file (no {', '.join(sorted(missing))})")
    keras = import_keras()
    import pyimagesearch.layers  # noqa: F401  (registers the course's layers for safe loading)
    import pyimagesearch.models  # noqa: F401  (and chapter 05's MirrorImage, in the saved embedding)

    folder = path.parent
    embedding = keras.models.load_model(folder / record["embedding"])
    gallery = FaceGallery.load(folder / record["gallery"])
    return FaceService(embedding, int(record["size"]), float(record["threshold"]), gallery)


def build_app(service: FaceService):
    """The Gradio app: a verification tab and an identification tab (with enrolment)."""
    import gradio as gr

    with gr.Blocks(title="Siamese Networks with Keras: face demo") as app:
        gr.Markdown("# Face verification and identification\nChapter 07 of *Siamese Networks with Keras*.")
        with gr.Tab("Verify two photos"):
            with gr.Row():
                photo_a = gr.File(label="Photo A", file_types=["image"], elem_id="photo_a")
                photo_b = gr.File(label="Photo B", file_types=["image"], elem_id="photo_b")
            verify = gr.Button("Verify", variant="primary", elem_id="verify")
            with gr.Row():
                crop_a = gr.Image(label="Face A", interactive=False)
                crop_b = gr.Image(label="Face B", interactive=False)
            verdict = gr.Textbox(label="Verdict", elem_id="verdict")
            verify.click(service.verify, [photo_a, photo_b], [crop_a, crop_b, verdict], api_name="verify")
        with gr.Tab("Identify a photo"):
            photo = gr.File(label="Photo", file_types=["image"], elem_id="photo")
            k = gr.Slider(1, 10, value=3, step=1, label="How many names")
            identify = gr.Button("Identify", variant="primary", elem_id="identify")
            face = gr.Image(label="Face", interactive=False)
            names = gr.Textbox(label="Nearest people", elem_id="names")
            identify.click(service.identify, [photo, k], [face, names], api_name="identify")
            with gr.Accordion("Enrol someone", open=False):
                name = gr.Textbox(label="Name")
                enrol_photo = gr.File(label="Their photo", file_types=["image"])
                enrol = gr.Button("Enrol")
                enrolled = gr.Textbox(label="Gallery")
                enrol.click(service.enrol, [name, enrol_photo], enrolled, api_name="enrol")
    return app


def verify_in_browser(url: str, photo_a, photo_b, chromium: str | None = None,
                      screenshot: str | Path | None = None, timeout_s: float = 60.0) -> str:
    """The verdict the page at ``url`` shows for two uploaded photos, in headless Chromium (Playwright).

    ``chromium``: the browser's executable (None: Playwright's own); ``screenshot``: where to save
    the whole page once the verdict is shown.
    """
    import time

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1000, "height": 860})
        page.goto(url, wait_until="domcontentloaded")
        page.locator("#photo_a input[type=file]").set_input_files(str(photo_a))
        page.locator("#photo_b input[type=file]").set_input_files(str(photo_b))
        page.wait_for_timeout(1000)
        page.locator("#verify").click()
        verdict = page.locator("#verdict textarea")
        deadline = time.monotonic() + timeout_s
        while not verdict.input_value() and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        text = verdict.input_value()
        if screenshot is not None:
            page.wait_for_timeout(500)  # the crops finish drawing
            page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return text


def main(argv: list[str] | None = None) -> int:
    """Start the demo on localhost."""
    from pyimagesearch.config import output_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = output_root() / "full" / "deploy" / SERVICE_NAME
    if not default.is_file():
        default = output_root() / "quick" / "deploy" / SERVICE_NAME
    parser.add_argument("--service", type=Path, default=default, help="the service file notebook 07 wrote")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    try:
        service = load_service(args.service)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    build_app(service).launch(server_name="127.0.0.1", server_port=args.port, max_file_size="20mb")
    return 0


if __name__ == "__main__":
    sys.exit(main())
