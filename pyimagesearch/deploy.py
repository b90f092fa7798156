"""Chapter 07: the pair-verification model built on a face embedding and its exports (a SavedModel
for TensorFlow Serving, ONNX for ONNX Runtime)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from pyimagesearch import models  # noqa: F401 (registers MirrorImage: notebook 05.2's file loads)
from pyimagesearch.layers import EuclideanDistance

EMBEDDING_FILE = "05_embedding.keras"  # what notebook 05.2 saves


@keras.saving.register_keras_serializable(package="pyimagesearch")
class SameWithin(layers.Layer):
    """1.0 where a distance is at most ``threshold`` (same person), else 0.0."""

    def __init__(self, threshold: float, **kwargs):
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def call(self, distance):
        return ops.cast(ops.less_equal(distance, self.threshold), "float32")

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


def build_verifier(embedding: keras.Model, threshold: float) -> keras.Model:
    """Two uint8 faces in (``face_a``, ``face_b``), their ``distance`` and ``same`` decision out."""
    size = embedding.input_shape[1:]
    face_a = keras.Input(size, dtype="uint8", name="face_a")
    face_b = keras.Input(size, dtype="uint8", name="face_b")
    to_float = layers.Rescaling(1.0, name="to_float")  # uint8 0-255 -> float32 0-255, as in training
    distance = EuclideanDistance(name="distance")([embedding(to_float(face_a)), embedding(to_float(face_b))])
    same = SameWithin(threshold, name="same")(distance)
    return keras.Model({"face_a": face_a, "face_b": face_b}, {"distance": distance, "same": same},
                       name="face_verifier")


def export_saved_model(model: keras.Model, folder: str | Path) -> Path:
    """Write ``model`` as a SavedModel (``serving_default`` signature) that TF Serving loads."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no "Assets written to" lines
    model.export(str(folder), format="tf_saved_model", verbose=False)
    return Path(folder)


def export_onnx(model: keras.Model, path: str | Path) -> Path:
    """Write ``model`` as an ONNX file for ONNX Runtime."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # tf2onnx asks numpy about np.object
        model.export(str(path), format="onnx", verbose=False)
    return Path(path)


def saved_model_outputs(folder: str | Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the SavedModel's ``serving_default`` signature in this process."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    outputs = signature(**{name: tf.constant(value) for name, value in inputs.items()})
    return {name: value.numpy() for name, value in outputs.items()}


def onnx_outputs(path: str | Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the ONNX file with ONNX Runtime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, inputs), strict=True))


def largest_difference(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> float:
    """The largest absolute difference over the outputs both have, by name."""
    return max(float(np.abs(np.asarray(reference[k]).reshape(-1) - np.asarray(other[k]).reshape(-1)).max())
               for k in reference)


def ensure_embedding(settings) -> Path:
    """Chapter 05.2's face embedding under ``settings.output_dir``, made first by running that notebook."""
    from pyimagesearch.config import REPO_ROOT
    from pyimagesearch.notebooks import made_by_notebook

    return made_by_notebook(settings.output_dir / EMBEDDING_FILE,
                            REPO_ROOT / "05_face_recognition_triplet" / "02_triplet_training.ipynb",
                            settings, "chapter-05 embedding")


@dataclass(frozen=True)
class EmbeddedPairs:
    """Chapter 05.2's embedding, every face crop's embedding and LFW's pairs of folds 0-4.

    ``faces``/``vectors``: the people of those ``pairs``, whose faces the embedding never trained
    on; ``index``: each pair's two rows of ``faces``; ``val`` (folds 0-1) and ``test`` (folds 2-4)
    select pairs; ``train_faces``/``train_vectors``: everyone else (to train a head on).
    """

    embedding: keras.Model
    pairs: object  # LFWPairs
    faces: object  # lfw.Faces
    vectors: np.ndarray
    index: np.ndarray
    train_faces: object  # lfw.Faces
    train_vectors: np.ndarray

    @property
    def size(self) -> int:
        return int(self.embedding.input_shape[1])

    @property
    def labels(self) -> np.ndarray:
        return np.asarray(self.pairs.labels)

    @property
    def val(self) -> np.ndarray:
        return np.asarray(self.pairs.folds) <= 1

    @property
    def test(self) -> np.ndarray:
        return np.asarray(self.pairs.folds) >= 2

    @property
    def distances(self) -> np.ndarray:
        """The pairs' Euclidean distances between embeddings (float32)."""
        return np.linalg.norm(self.vectors[self.index[:, 0]] - self.vectors[self.index[:, 1]], axis=1)


def embedded_pairs(settings) -> EmbeddedPairs:
    """Chapter 05.2's embedding (made first if missing) applied to every face crop, and the pairs.

    The faces' flip-averaged embeddings come from notebook 05.2's float16 cache of the frozen
    front's activations (``fv.cached_activations``, made here if missing) and the saved model's
    tail (``fv.embed_cached``), as notebook 05.2 embedded its test people.
    """
    from pyimagesearch import datasets, lfw
    from pyimagesearch import face_verification as fv

    embedding = keras.models.load_model(ensure_embedding(settings))
    all_pairs = datasets.load_lfw_pairs()
    protocol = settings.pick(all_pairs.first(10), all_pairs)
    pairs = protocol.subset(protocol.folds <= 4)
    all_faces = lfw.load_faces(lfw.ensure_crops(settings), size=embedding.input_shape[1])
    front, tail = embedding.get_layer("mobilenet_v2_front"), embedding.get_layer("tail_embedding")
    all_vectors = fv.embed_cached(tail, fv.cached_activations(front, all_faces.images,
                                                              settings.output_dir / "cache"))
    in_pairs = np.isin(all_faces.identities, sorted(pairs.people()))
    faces = all_faces.subset(in_pairs)
    return EmbeddedPairs(embedding, pairs, faces, all_vectors[in_pairs], lfw.pair_indices(faces, pairs),
                         all_faces.subset(~in_pairs), all_vectors[~in_pairs])


def show_verdicts(faces_a, faces_b, distances, same, truth, threshold: float, title: str = "",
                  path: str | Path | None = None, ncols: int = 4):
    """Pairs of faces, each titled with its distance and verdict: green where right, red where wrong."""
    import matplotlib.pyplot as plt

    from pyimagesearch.plots import _pair_strip, _save

    distances, same, truth = (np.asarray(v).ravel() for v in (distances, same, truth))
    nrows = max(1, -(-len(distances) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 1.75 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, a, b, d, s, t in zip(axes.ravel(), faces_a, faces_b, distances, same, truth, strict=False):
        ax.imshow(_pair_strip(a, b))
        ax.set_title(f"{d:.2f}: {'same' if s else 'different'}", fontsize=9,
                     color="tab:green" if bool(s) == bool(t) else "tab:red")
    fig.suptitle(f"{title + ': ' if title else ''}distance <= {threshold:.3f} means the same person; "
                 "green right, red wrong", fontsize=9)
    fig.tight_layout()
    _save(fig, path)
    return fig
