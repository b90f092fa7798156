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
