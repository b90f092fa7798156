"""The course's triplet ``SiameseModel``: one embedding network, three inputs, the triplet loss.

:class:`SiameseModel` embeds an (anchor, positive, negative) triplet with one shared network
and returns the two distances ``d(a, p)`` and ``d(a, n)``. Its loss lives in
``compute_loss``, which Keras' own ``train_step`` calls on every backend, so the same model
trains with TensorFlow, JAX or PyTorch. :class:`TFSiameseModel` is the course's version for
TensorFlow, with the ``train_step`` and ``test_step`` written out by hand around a
``tf.GradientTape``; :func:`siamese_model` picks the one that suits the running backend.
"""

from __future__ import annotations

import keras
from keras import ops

from pyimagesearch.layers import EuclideanDistance
from pyimagesearch.triplets import triplet_hinge


@keras.saving.register_keras_serializable(package="pyimagesearch")
class SiameseModel(keras.Model):
    """Triplet Siamese model around ``embedding``; ``fit`` it on ``(anchor, positive, negative)``."""

    def __init__(self, embedding: keras.Model, margin: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.embedding, self.margin = embedding, float(margin)
        self.distance = EuclideanDistance(name="distance")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, triplet, training=None):
        """The distances ``(d(a, p), d(a, n))`` of a batch of triplets, each ``(batch,)``."""
        anchor, positive, negative = (self.embedding(x, training=training) for x in triplet)
        return (ops.reshape(self.distance([anchor, positive]), (-1,)),
                ops.reshape(self.distance([anchor, negative]), (-1,)))

    def triplet_loss(self, distances):
        """Mean ``max(d(a, p) - d(a, n) + margin, 0)``."""
        return triplet_hinge(*distances, margin=self.margin)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The triplet loss of ``y_pred`` (Keras' train and test steps call this on any backend)."""
        loss = self.triplet_loss(y_pred)
        self.loss_tracker.update_state(loss)
        return loss

    @property
    def metrics(self):
        return [self.loss_tracker]

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin,
                "embedding": keras.saving.serialize_keras_object(self.embedding)}

    @classmethod
    def from_config(cls, config: dict):
        config["embedding"] = keras.saving.deserialize_keras_object(config["embedding"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="pyimagesearch")
class TFSiameseModel(SiameseModel):
    """The course's TensorFlow version: ``train_step`` and ``test_step`` written by hand."""

    def train_step(self, data):
        import tensorflow as tf

        triplet = keras.utils.unpack_x_y_sample_weight(data)[0]
        with tf.GradientTape() as tape:
            loss = self.triplet_loss(self(triplet, training=True))
        gradients = tape.gradient(loss, self.embedding.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.embedding.trainable_weights, strict=True))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        triplet = keras.utils.unpack_x_y_sample_weight(data)[0]
        self.loss_tracker.update_state(self.triplet_loss(self(triplet, training=False)))
        return {"loss": self.loss_tracker.result()}


def siamese_model(embedding: keras.Model, margin: float = 0.5) -> SiameseModel:
    """The course's hand-written TensorFlow model under TensorFlow, the portable one elsewhere."""
    cls = TFSiameseModel if keras.backend.backend() == "tensorflow" else SiameseModel
    return cls(embedding, margin=margin, name="siamese_triplet")
