"""The contrastive loss, with ``keras.ops`` only (any backend).

Hadsell, Chopra and LeCun, "Dimensionality Reduction by Learning an Invariant Mapping"
(CVPR 2006), in the course's label convention **y = 1 for a same-class pair, y = 0 for
a different-class pair**::

    L = mean( y * d**2 + (1 - y) * max(margin - d, 0)**2 )

Same-class pairs are pulled together (their distance is penalised); different-class
pairs are pushed apart until they are at least ``margin`` away. The paper (and Keras'
own contrastive-loss example) writes it with y = 0 for similar pairs, swapping the two
terms; the paper also has a factor 1/2 on each term, which only rescales the loss.
"""

from __future__ import annotations

import keras
from keras import ops

from pyimagesearch.layers import pairwise_distances


def contrastive_terms(y_true, distance, margin: float = 1.0):
    """Per-pair loss ``y * d**2 + (1 - y) * max(margin - d, 0)**2``, y = 1 for a same-class pair."""
    distance = ops.reshape(ops.convert_to_tensor(distance), (-1,))  # (batch,) or (batch, 1) -> (batch,)
    y_true = ops.reshape(ops.cast(y_true, distance.dtype), (-1,))
    same = y_true * ops.square(distance)  # same class: pulled together
    different = (1.0 - y_true) * ops.square(ops.maximum(margin - distance, 0.0))  # pushed to the margin
    return same + different


@keras.saving.register_keras_serializable(package="pyimagesearch")
def contrastive_loss(y_true, distance, margin: float = 1.0):
    """The batch mean of :func:`contrastive_terms` (Hadsell et al. 2006, y = 1 for same-class pairs)."""
    return ops.mean(contrastive_terms(y_true, distance, margin))


@keras.saving.register_keras_serializable(package="pyimagesearch")
class ContrastiveLoss(keras.losses.Loss):
    """The contrastive loss as a Keras ``Loss``, with a configurable ``margin`` saved in its config.

    ``call`` returns the per-pair :func:`contrastive_terms`; Keras applies sample weights and
    averages them. Use it in ``model.compile(loss=ContrastiveLoss(margin=1.0))`` with a model
    that outputs the pair distance; labels are 1 = same class, 0 = different class.
    """

    def __init__(self, margin: float = 1.0, name: str = "contrastive_loss",
                 reduction: str = "sum_over_batch_size", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        return contrastive_terms(y_true, y_pred, self.margin)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin}


def in_batch_masks(labels):
    """Masks ``(batch, batch)`` of the positive (same class, not itself) and negative pairs in a batch."""
    labels = ops.reshape(labels, (-1,))
    same = ops.cast(ops.equal(labels[:, None], labels[None, :]), "float32")
    return same - ops.eye(ops.shape(labels)[0], dtype="float32"), 1.0 - same


def balanced_mean(terms, labels):
    """Half the mean of ``terms`` ``(batch, batch)`` over the positive pairs, half over the negative ones."""
    positives, negatives = in_batch_masks(labels)
    terms = ops.cast(terms, "float32")
    positive = ops.sum(positives * terms) / ops.maximum(ops.sum(positives), 1.0)
    negative = ops.sum(negatives * terms) / ops.maximum(ops.sum(negatives), 1.0)
    return 0.5 * positive + 0.5 * negative


@keras.saving.register_keras_serializable(package="pyimagesearch")
class InBatchContrastiveLoss(keras.losses.Loss):
    """Batch-all contrastive loss: every pair in a batch of embeddings, positives and negatives half each.

    ``y_true`` holds the images' class labels ``(batch,)``, ``y_pred`` their embeddings
    ``(batch, dim)``; each pair's term is :func:`contrastive_terms` of its distance.
    """

    def __init__(self, margin: float = 1.0, name: str = "in_batch_contrastive_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = float(margin)

    def call(self, y_true, y_pred):
        labels = ops.reshape(y_true, (-1,))
        distances = pairwise_distances(y_pred)
        same = ops.cast(ops.equal(labels[:, None], labels[None, :]), distances.dtype)
        terms = ops.reshape(contrastive_terms(same, distances, self.margin), ops.shape(distances))
        return balanced_mean(terms, labels)

    def get_config(self) -> dict:
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class InBatchBCELoss(keras.losses.Loss):
    """Balanced binary cross-entropy of a ``(batch, batch)`` P(same) matrix; ``y_true``: class labels."""

    def __init__(self, name: str = "in_batch_bce_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        labels = ops.reshape(y_true, (-1,))
        same = ops.cast(ops.equal(labels[:, None], labels[None, :]), y_pred.dtype)
        return balanced_mean(ops.binary_crossentropy(same, y_pred), labels)
