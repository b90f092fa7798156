"""Ask a TensorFlow Serving model whether two photos show the same person.

    python -m pyimagesearch.serving verify IMG1 IMG2 [--url http://localhost:8501] [--model face_verifier]

Crops the largest face of each photo as chapter 05.1 did, sends TF Serving's REST request
(``POST /v1/models/<name>:predict``) and prints the verdict as JSON. Exit status: 0 answered,
1 bad photo or no face, 2 server unreachable or its answer unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

import numpy as np

DEFAULT_URL = "http://localhost:8501"
DEFAULT_MODEL = "face_verifier"
FORMATS = ("instances", "inputs")


def request_body(face_a: np.ndarray, face_b: np.ndarray, style: str = "instances") -> dict:
    """TF Serving's REST body for one pair: row format (``instances``) or columnar (``inputs``)."""
    if style == "instances":
        return {"signature_name": "serving_default",
                "instances": [{"face_a": face_a.tolist(), "face_b": face_b.tolist()}]}
    if style == "inputs":
        return {"signature_name": "serving_default",
                "inputs": {"face_a": [face_a.tolist()], "face_b": [face_b.tolist()]}}
    raise ValueError(f"style={style!r}: choose one of {', '.join(FORMATS)}")


def body_as_arrays(body: dict) -> dict[str, np.ndarray]:
    """The batched uint8 tensors that TF Serving makes of a request body (for in-process checks)."""
    if "instances" in body:
        names = body["instances"][0].keys()
        return {n: np.array([row[n] for row in body["instances"]], dtype=np.uint8) for n in names}
    return {n: np.array(v, dtype=np.uint8) for n, v in body["inputs"].items()}


def verdict(response: dict) -> dict:
    """The first pair's answer from TF Serving's response (``predictions`` or ``outputs``)."""
    if "predictions" in response:
        first = response["predictions"][0]
    elif "outputs" in response:
        first = {name: values[0] for name, values in response["outputs"].items()}
    else:
        raise ValueError(f"unexpected answer from the server: {json.dumps(response)[:200]}")
    distance = float(np.ravel(first["distance"])[0])
    return {"distance": round(distance, 4), "same_person": bool(np.ravel(first["same"])[0] >= 0.5)}


def predict(url: str, model: str, body: dict, timeout: float = 30) -> dict:
    """POST the body to ``<url>/v1/models/<model>:predict`` and return the decoded JSON answer."""
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/models/{model}:predict",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.load(answer)
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode(errors="replace")
        raise ConnectionError(f"{url}: the server answered {error.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ConnectionError(f"{url}: no TensorFlow Serving server answers ({reason}); "
                              "start one with `docker compose up` in 07_deploy/") from None


def main(argv: list[str] | None = None) -> int:
    """The ``verify`` command: read both photos, crop their faces, ask the server, print its verdict."""
    from pyimagesearch.face_detection import FaceDetector, largest_face, read_photo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="are two photos the same person?")
    verify.add_argument("photos", nargs=2, metavar="IMG")
    verify.add_argument("--url", default=DEFAULT_URL, help=f"TF Serving's REST address ({DEFAULT_URL})")
    verify.add_argument("--model", default=DEFAULT_MODEL, help=f"the served model's name ({DEFAULT_MODEL})")
    verify.add_argument("--size", type=int, default=112, help="the model's face size in pixels (default 112)")
    verify.add_argument("--format", choices=FORMATS, default="instances", help="REST request format")
    args = parser.parse_args(argv)
    try:
        photos = [read_photo(photo) for photo in args.photos]  # before the detector loads or downloads
        detector = FaceDetector()
        faces = [largest_face(image, detector, args.size, photo)
                 for image, photo in zip(photos, args.photos, strict=True)]
    except (ValueError, OSError) as error:  # ImageError, NoFaceError, missing detector files
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        answer = verdict(predict(args.url, args.model, request_body(*faces, style=args.format)))
    except (ConnectionError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"photos": args.photos, **answer}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
