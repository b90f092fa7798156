"""Tests of chapters 02-03's helpers: training recipes, finding and loading models, scoring image files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from pyimagesearch import digits
from pyimagesearch.config import Settings
from pyimagesearch.images import ImageError
from pyimagesearch.models import build_course_extractor, build_siamese
from pyimagesearch.pairs import make_pair_indices

EXAMPLES = Path(__file__).resolve().parent.parent / "03_compare-images" / "examples"


def small_split(n: int = 40) -> digits.Split:
    labels = np.arange(n) % 4
    images = np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    pairs, pair_labels = make_pair_indices(labels, seed=0)
    return digits.Split(images, labels, pairs, pair_labels)


def test_train_siamese_on_pairs_or_in_batch(monkeypatch):
    settings = Settings(quick=True, seed=0, output_dir=Path("unused"))
    calls = []
    monkeypatch.setattr(digits, "train_pairs", lambda *args, **kwargs: calls.append(("pairs", args[:2])))
    monkeypatch.setattr(digits, "train_in_batch", lambda extractor, head, train, epochs, batch_size, verbose:
                        calls.append(("in-batch", (extractor.layers[-1].name, head, epochs, batch_size))))
    splits = {"train": small_split()}
    digits.train_siamese("course", "sigmoid", splits, settings)
    digits.train_siamese("improved", "sigmoid", splits, settings)
    digits.train_siamese("improved", "distance", splits, settings, in_batch=True)
    digits.train_siamese("improved", "sigmoid", splits, settings, in_batch=True)
    budget = digits.budget("in-batch", quick=True)
    assert calls == [("pairs", ("course", "sigmoid")), ("pairs", ("improved", "sigmoid")),
                     ("in-batch", ("unit_length", "distance", *budget)),  # the contrastive margin's scale
                     ("in-batch", ("embedding", "sigmoid", *budget))]


@pytest.mark.parametrize("head", ["sigmoid", "distance", "l1"])
def test_predict_pairs_equals_the_siamese_model_on_every_pair(head):
    split = small_split(30)
    model = build_siamese(build_course_extractor(), head=head)
    scores = digits.predict_pairs(model, split, batch_size=16)
    assert scores.shape == (len(split.pair_labels),)
    (left, right), _ = split.arrays()
    np.testing.assert_allclose(scores, model.predict([left, right], verbose=0).ravel(), rtol=1e-5, atol=1e-6)


def test_load_siamese_names_bad_files(tmp_path):
    model = build_siamese(build_course_extractor(), head="sigmoid")
    good = tmp_path / "good.keras"
    model.save(good)
    assert isinstance(digits.load_siamese(good).get_layer("distance"), keras.layers.Layer)
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "page.keras").write_text("<html></html>")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("notes.txt", "not a model")
    for name, problem in [("missing.keras", "no such file"), ("empty.keras", "not a valid .keras file"),
                          ("page.keras", "not a valid .keras file"), ("other.keras", "config.json")]:
        with pytest.raises(digits.ModelFileError, match=problem) as caught:
            digits.load_siamese(tmp_path / name)
        message = str(caught.value)
        assert name in message and "run chapter 02" in message and "\n" not in message
        assert "File not found" not in message


def test_read_digit_checks_files_and_scales():
    files = sorted(EXAMPLES.glob("digit*.png"))
    assert len(files) == 20
    image = digits.read_digit(files[0])
    assert image.shape == (28, 28) and image.dtype == np.uint8
    batch = digits.to_model_input(np.stack([image, image]))
    assert batch.shape == (2, 28, 28, 1) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0, ..., 0], image / 255.0, rtol=1e-6)
    large = EXAMPLES / "not_digits" / "digit7_250x250.png"
    with pytest.raises(ImageError, match="digit7_250x250.png: 250x250 pixels, the model expects 28x28"):
        digits.read_digit(large)
    assert digits.read_digit(large, resize=True).shape == (28, 28)
    with pytest.raises(ImageError, match="download.png: not an image file"):
        digits.read_digit(EXAMPLES / "not_digits" / "download.png")


def test_compare_images_scores_one_pair():
    model = build_siamese(build_course_extractor(), head="sigmoid")
    a, b = sorted(EXAMPLES.glob("digit*.png"))[:2]
    itself = digits.compare_images(model, a, a)
    assert isinstance(itself, float)
    # the head starts at weight -1 and bias 1: sigmoid(1 - sqrt(eps)) for an image with itself
    assert itself == pytest.approx(1 / (1 + np.exp(np.sqrt(keras.config.epsilon()) - 1)), abs=1e-6)
    assert digits.compare_images(model, a, b) < itself


def test_find_or_train_model(tmp_path, monkeypatch, capsys):
    full = Settings(quick=False, seed=0, output_dir=tmp_path / "full")
    full.output_dir.mkdir()
    trained = []

    def fake_train(extractor, head, splits, settings, verbose=2):
        trained.append((extractor, head, settings.quick, settings.output_dir.name))
        return build_siamese(build_course_extractor(), head), None

    monkeypatch.setattr(digits, "train_siamese", fake_train)
    monkeypatch.setattr(digits, "load_digit_splits", lambda dataset, quick: {})
    path = digits.find_or_train_model(full)
    assert path == tmp_path / "quick" / "mnist_improved_bce.keras" and path.is_file()
    assert trained == [("improved", "sigmoid", True, "quick")]
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "mnist_improved_bce.keras is not in" in lines[0] and "quick model" in lines[0]
    assert digits.find_or_train_model(full) == path  # the quick model is found, not trained again
    assert len(trained) == 1 and "using chapter 02's quick model" in capsys.readouterr().out
    (full.output_dir / "mnist_improved_bce.keras").write_bytes(b"")
    assert digits.find_or_train_model(full) == full.output_dir / "mnist_improved_bce.keras"
    assert capsys.readouterr().out == ""
