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


def pairwise_distances(embeddings, epsilon: float | None = None):
    """Euclidean distances between every two rows of ``embeddings`` ``(batch, dim)``: ``(batch, batch)``.

    Uses ``|a - b|² = |a|² + |b|² - 2 a·b`` (one matrix product, no ``(batch, batch, dim)``
    array), floored at ``epsilon`` before the square root as in :class:`EuclideanDistance`.
    """
    epsilon = keras.config.epsilon() if epsilon is None else epsilon
    norms = ops.sum(ops.square(embeddings), axis=-1)
    squared = norms[:, None] + norms[None, :] - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings))
    return ops.sqrt(ops.maximum(squared, epsilon))


@keras.saving.register_keras_serializable(package="pyimagesearch")
class PairwiseSameProbability(keras.layers.Layer):
    """The sigmoid head on every in-batch distance: ``(batch, dim)`` embeddings -> ``(batch, batch)``.

    ``P(same)[i, j] = sigmoid(w · d(i, j) + b)``, with the ``kernel`` ``(1, 1)`` and ``bias``
    ``(1,)`` of the Siamese model's ``Dense(1, sigmoid)`` head, so trained weights copy over
    with ``get_weights``/``set_weights``. It starts at weight -1 and bias 1: a pair at
    distance 1 is a coin flip (with bias 0 every pair would start as "different").
    """

    def build(self, input_shape):
        constant = keras.initializers.Constant
        self.kernel = self.add_weight(shape=(1, 1), initializer=constant(-1.0), name="kernel")
        self.bias = self.add_weight(shape=(1,), initializer=constant(1.0), name="bias")

    def call(self, embeddings):
        return ops.sigmoid(pairwise_distances(embeddings) * self.kernel[0, 0] + self.bias[0])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[0])


@keras.saving.register_keras_serializable(package="pyimagesearch")
class FeatureWeights(keras.layers.Layer):
    """A learned weight per feature, starting at 1: ``features * w``, a diagonal metric on frozen features."""

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="kernel")

    def call(self, features):
        return features * self.kernel
