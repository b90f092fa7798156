"""Custom layers, written with ``keras.ops`` only so that they run on every Keras backend.

They are registered as serialisable, so models that use them save to ``.keras`` and
reload with ``keras.models.load_model`` under the default ``safe_mode=True`` (a
``Lambda`` layer would not reload without ``custom_objects``).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="pyimagesearch")
class EuclideanDistance(keras.layers.Layer):
    """Euclidean distance between two batches of vectors: ``(batch, 1)``.

    Computes ``sqrt(max(sum((a - b) ** 2, axis=-1), epsilon))``; the floor ``epsilon``
    (default ``keras.config.epsilon()``) keeps the gradient of the square root finite when
    ``a == b``. Call it on a list or tuple ``[a, b]``.
    """

    def __init__(self, epsilon: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(keras.config.epsilon() if epsilon is None else epsilon)

    def call(self, inputs):
        a, b = inputs
        squared = ops.sum(ops.square(a - b), axis=-1, keepdims=True)
        return ops.sqrt(ops.maximum(squared, self.epsilon))

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[0])[:-1], 1)

    def get_config(self) -> dict:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class AbsoluteDifference(keras.layers.Layer):
    """``|a - b|`` coordinate by coordinate: the L1 head's view of two embeddings."""

    def call(self, inputs):
        a, b = inputs
        return ops.abs(a - b)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])
