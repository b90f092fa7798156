"""The request tool against a real TensorFlow Serving server: only where docker and its image exist."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request

import numpy as np
import pytest

from pyimagesearch import deploy, serving
from pyimagesearch.demo import free_port

IMAGE = "tensorflow/serving:2.19.0"  # the image 07_deploy/docker-compose.yml names


def _image_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _image_available(), reason=f"needs docker with the {IMAGE} image")


def test_tf_serving_answers_what_the_keras_model_answers(tmp_path):
    from test_deploy import SIZE, tiny_embedding

    verifier = deploy.build_verifier(tiny_embedding(), threshold=0.05)
    deploy.export_saved_model(verifier, tmp_path / "face_verifier" / "1")
    port = free_port()
    container = subprocess.run(["docker", "run", "-d", "--rm", "-p", f"{port}:8501", "-v",
                                f"{tmp_path}:/models:ro", "-e", "MODEL_NAME=face_verifier", IMAGE],
                               capture_output=True, text=True, check=True).stdout.strip()
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(60):
            try:
                urllib.request.urlopen(f"{url}/v1/models/face_verifier", timeout=2)
                break
            except OSError:
                time.sleep(1)
        faces = np.random.default_rng(0).integers(0, 256, (2, SIZE, SIZE, 3), dtype=np.uint8)
        body = serving.request_body(faces[0], faces[1])
        answer = serving.verdict(serving.predict(url, "face_verifier", body))
        expected = verifier.predict({"face_a": faces[:1], "face_b": faces[1:]}, verbose=0)
        assert answer["distance"] == pytest.approx(float(expected["distance"][0, 0]), abs=1e-4)
    finally:
        subprocess.run(["docker", "stop", container], capture_output=True)
