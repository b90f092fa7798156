"""Feature extractors and the Siamese model that shares one of them between two inputs."""

from __future__ import annotations

import keras
from keras import initializers, layers, ops

from pyimagesearch.layers import AbsoluteDifference, EuclideanDistance, FeatureWeights

SIAMESE_HEADS = ("sigmoid", "distance", "l1")


def build_course_extractor(input_shape: tuple[int, ...] = (28, 28, 1),
                           embedding_dim: int = 48) -> keras.Model:
    """The course's feature extractor: two 2x2 conv blocks, global pooling, a 48-d embedding."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Conv2D(64, (2, 2), padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.Conv2D(64, (2, 2), padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Dropout(0.3)(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(embedding_dim, name="embedding")(x)
    return keras.Model(inputs, outputs, name="course_extractor")


def _conv_bn_relu(x, filters: int):
    """3x3 convolution (no bias), batch normalisation (momentum 0.9, for short runs), ReLU."""
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=0.9)(x)
    return layers.ReLU()(x)


def build_improved_extractor(input_shape: tuple[int, ...] = (28, 28, 1), embedding_dim: int = 64,
                             normalize: bool = False) -> keras.Model:
    """A stronger, still CPU-friendly extractor: 3x3 conv + BN blocks 16-16 | 32-32 | 64.

    About 40k parameters and 5.5M multiply-adds per 28x28 image (the course's extractor:
    20k and 3.4M). ``normalize`` scales the embedding to unit length, so that distances lie
    between 0 and 2 (for the contrastive loss, whose margin needs a fixed scale).
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn_relu(inputs, 16)
    x = _conv_bn_relu(x, 16)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = _conv_bn_relu(x, 32)
    x = _conv_bn_relu(x, 32)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = _conv_bn_relu(x, 64)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(embedding_dim, name="embedding")(x)
    if normalize:
        outputs = layers.UnitNormalization(name="unit_length")(outputs)
    return keras.Model(inputs, outputs, name="improved_extractor")


EXTRACTORS = {"course": build_course_extractor, "improved": build_improved_extractor}


def build_siamese(extractor: keras.Model, head: str = "sigmoid") -> keras.Model:
    """Two inputs, one shared extractor, then the head on the two embeddings.

    ``head="sigmoid"``: a ``Dense(1, sigmoid)`` on their Euclidean distance, the probability
    that the pair shows the same class (train with binary cross-entropy, labels 1 = same).
    ``head="distance"``: the distance itself (train with the contrastive loss).
    ``head="l1"``: ``Dense(1, sigmoid)`` on ``|a - b|``, each coordinate weighed on its own
    (Koch et al.'s one-shot head; binary cross-entropy).
    The sigmoid head starts at weight -1 (a larger distance means "less alike"; Keras' random
    weight is positive for about half of all seeds, and then training stays at chance) and
    bias 1 (a pair at distance 1 is a coin flip; with bias 0 every pair starts as "different").
    """
    if head not in SIAMESE_HEADS:
        raise ValueError(f"head={head!r}: choose one of {', '.join(SIAMESE_HEADS)}")
    shape = tuple(extractor.input_shape[1:])
    left = keras.Input(shape=shape, name="left")
    right = keras.Input(shape=shape, name="right")
    a, b = extractor(left), extractor(right)
    if head == "l1":
        difference = AbsoluteDifference(name="l1_difference")([a, b])
        outputs = layers.Dense(1, activation="sigmoid", name="same_probability")(difference)
        return keras.Model([left, right], outputs, name="siamese_l1")
    outputs = distance = EuclideanDistance(name="distance")([a, b])
    if head == "sigmoid":
        outputs = layers.Dense(1, activation="sigmoid", kernel_initializer=initializers.Constant(-1.0),
                               bias_initializer=initializers.Constant(1.0), name="same_probability")(distance)
    return keras.Model([left, right], outputs, name=f"siamese_{head}")


def augment_faces(x):
    """Light augmentation, active only in training: shift, rotate, zoom, mirror, brighten.

    Shifts of up to 5 %, rotations of up to 0.03 of a turn (11 degrees), zoom of 10 %,
    horizontal flips (a mirrored face is still the same person) and brightness changes of
    10 %; pixels are expected in [0, 1].
    """
    x = layers.RandomTranslation(0.05, 0.05, fill_mode="nearest", name="random_shift")(x)
    x = layers.RandomRotation(0.03, fill_mode="nearest", name="random_rotation")(x)
    x = layers.RandomZoom(0.1, fill_mode="nearest", name="random_zoom")(x)
    x = layers.RandomFlip("horizontal", name="random_flip")(x)
    return layers.RandomBrightness(0.1, value_range=(0.0, 1.0), name="random_brightness")(x)


def face_block(x, block: int, width: int, dropout: float):
    """3x3 convolution (no bias), batch normalisation, LeakyReLU, 2x2 max pooling, dropout."""
    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"block{block}_conv")(x)
    x = layers.BatchNormalization(name=f"block{block}_bn")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name=f"block{block}_leaky_relu")(x)
    x = layers.MaxPooling2D(pool_size=2, name=f"block{block}_pool")(x)
    return layers.Dropout(dropout, name=f"block{block}_dropout")(x)


def build_face_extractor(input_shape: tuple[int, ...] = (112, 92, 1), embedding_dim: int = 64,
                         filters: tuple[int, ...] = (16, 32, 64, 128), dropout: float = 0.1,
                         augment: bool = True, downscale: int = 1, flatten: bool = False) -> keras.Model:
    """A compact CNN for 92x112 greyscale faces in [0, 1] with an L2-normalised embedding.

    Augmentation (:func:`augment_faces`), an optional ``downscale``x average pooling, one
    :func:`face_block` per entry of ``filters``, then global average pooling (or, with
    ``flatten``, the whole last feature map, which keeps where on the face a feature was) and
    a ``Dense(embedding_dim)`` scaled to unit length: Euclidean distances lie between 0 and 2.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = augment_faces(inputs) if augment else inputs
    if downscale > 1:
        x = layers.AveragePooling2D(downscale, name="downscale")(x)
    for block, width in enumerate(filters, start=1):
        x = face_block(x, block, width, dropout)
    x = layers.Flatten(name="flatten")(x) if flatten else layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dense(embedding_dim, name="dense")(x)
    outputs = layers.UnitNormalization(name="embedding")(x)
    return keras.Model(inputs, outputs, name="face_extractor")



# Backbone -> (builder, Rescaling scale and offset that equal its preprocess_input on 0-255 pixels).
BACKBONES = {"mobilenet_v2": (keras.applications.MobileNetV2, 1 / 127.5, -1.0)}


def backbone_entry(backbone: str) -> tuple:
    """``BACKBONES[backbone]`` (builder, scale, offset), or a one-line error naming the choices."""
    if backbone not in BACKBONES:
        raise ValueError(f"backbone={backbone!r}: choose one of {', '.join(BACKBONES)}")
    return BACKBONES[backbone]


def build_backbone_features(backbone: str = "mobilenet_v2", input_shape: tuple[int, ...] = (128, 128, 3),
                            trainable_layers: int = 0, weights: str | None = None) -> keras.Model:
    """RGB pixels on the 0-255 scale -> the backbone's pooled features, its preprocessing inside.

    The course called ``preprocess_input`` on images already scaled to [0, 1]; here a
    ``Rescaling`` layer does the backbone's own scaling on 0-255 pixels. Only the last
    ``trainable_layers`` layers of the backbone train (0: frozen); ``weights`` is a weights
    file (see ``datasets.imagenet_weights``) or None for random weights.
    """
    build, scale, offset = backbone_entry(backbone)
    inputs = keras.Input(shape=input_shape, name="image")
    base = build(include_top=False, weights=weights, input_shape=input_shape, pooling="avg")
    base.trainable = trainable_layers > 0
    frozen = max(len(base.layers) - trainable_layers, 0)  # all layers train when asked for as many or more
    for layer in base.layers[:frozen]:
        layer.trainable = False
    x = layers.Rescaling(scale, offset=offset, name="preprocess")(inputs)
    outputs = base(x, training=False)  # batch norm statistics stay those of ImageNet
    return keras.Model(inputs, outputs, name=f"{backbone}_features")


def build_embedding_head(input_dim: int, embedding_dim: int = 128, dropout: float = 0.2) -> keras.Model:
    """Features -> dropout, a dense layer, unit length: the small trainable head of an embedding."""
    inputs = keras.Input(shape=(input_dim,), name="features")
    x = layers.Dropout(dropout, name="head_dropout")(inputs)
    x = layers.Dense(embedding_dim, name="head_dense")(x)
    outputs = layers.UnitNormalization(name="embedding")(x)
    return keras.Model(inputs, outputs, name="embedding_head")


def build_backbone_embedding(backbone: str = "mobilenet_v2", input_shape: tuple[int, ...] = (128, 128, 3),
                             embedding_dim: int = 128, trainable_layers: int = 0, weights: str | None = None,
                             dropout: float = 0.2, flip: bool = False) -> keras.Model:
    """A pretrained backbone, a small trainable head and an L2-normalised embedding.

    Two sub-models, :func:`build_backbone_features` and :func:`build_embedding_head`, so
    that a frozen backbone's features can be computed once and only the head trained on
    them. ``flip`` adds random horizontal flips (training only) in front.
    """
    features = build_backbone_features(backbone, input_shape, trainable_layers, weights)
    head = build_embedding_head(features.output_shape[-1], embedding_dim, dropout)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.RandomFlip("horizontal", name="random_flip")(inputs) if flip else inputs
    return keras.Model(inputs, head(features(x)), name=f"{backbone}_embedding")


def build_feature_metric(input_dim: int) -> keras.Model:
    """Frozen features -> one learned weight each (starting at 1) -> unit length: a Siamese embedding."""
    inputs = keras.Input(shape=(input_dim,), name="features")
    weighted = FeatureWeights(name="feature_weights")(inputs)
    return keras.Model(inputs, layers.UnitNormalization(name="embedding")(weighted), name="feature_metric")


def split_backbone(backbone: str = "mobilenet_v2", input_shape: tuple[int, ...] = (112, 112, 3),
                   cut: str = "block_12_add", weights: str | None = None) -> tuple[keras.Model, keras.Model]:
    """The backbone cut after layer ``cut``: a frozen front (0-255 pixels -> activations), a trainable tail.

    The tail (those activations -> pooled features) is a copy with its own weights, starting
    from the backbone's; its batch normalisation keeps ImageNet's statistics.
    """
    build, scale, offset = backbone_entry(backbone)
    base = build(include_top=False, weights=weights, input_shape=input_shape, pooling="avg")
    if cut not in [layer.name for layer in base.layers[1:-1]]:
        raise ValueError(f"cut={cut!r}: not an inner layer of {backbone} (e.g. 'block_12_add')")
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(scale, offset=offset, name="preprocess")(inputs)
    upto = keras.Model(base.input, base.get_layer(cut).output, name=f"{backbone}_upto_{cut}")
    front = keras.Model(inputs, upto(x, training=False), name=f"{backbone}_front")
    front.trainable = False
    after = keras.Model(base.get_layer(cut).output, base.output)
    tail = keras.models.clone_model(after)
    tail.set_weights(after.get_weights())
    tail.trainable = True
    return front, keras.Model(tail.inputs[0], tail.outputs[0], name=f"{backbone}_tail")


def build_tail_embedding(tail: keras.Model, embedding_dim: int = 128, dropout: float = 0.2) -> keras.Model:
    """Cached activations -> the trainable tail (ImageNet batch statistics), the head, unit length."""
    inputs = keras.Input(shape=tail.input_shape[1:], name="activations")
    head = build_embedding_head(tail.output_shape[-1], embedding_dim, dropout)
    return keras.Model(inputs, head(tail(inputs, training=False)), name="tail_embedding")


@keras.saving.register_keras_serializable(package="pyimagesearch")
class PickMirror(layers.Layer):
    """``(B, 2, ...)`` activations of faces and mirrors -> one of each: random in training, else face."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, pair, training=None):
        if not training:
            return pair[:, 0]
        shape = (ops.shape(pair)[0],) + (1,) * (len(pair.shape) - 2)
        mirrored = keras.random.uniform(shape, seed=self.seed_generator) < 0.5
        return ops.where(mirrored, pair[:, 1], pair[:, 0])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *input_shape[2:])

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="pyimagesearch")
class MirrorImage(layers.Layer):
    """Images ``(B, H, W, C)`` flipped left to right."""

    def call(self, images):
        return ops.flip(images, axis=-2)


def with_mirrors(embedding: keras.Model) -> keras.Model:
    """``embedding`` fed ``(B, 2, ...)`` face-and-mirror activations, trained on a random one of each pair."""
    inputs = keras.Input(shape=(2, *embedding.input_shape[1:]), name="face_and_mirror")
    return keras.Model(inputs, embedding(PickMirror(name="pick_mirror")(inputs)), name="mirror_augmented")


def merge_embedding(front: keras.Model, tail_embedding: keras.Model,
                    flip_average: bool = True) -> keras.Model:
    """One model, 0-255 pixels -> unit embedding: frozen front, trained tail (averaged with the mirror's)."""
    inputs = keras.Input(shape=front.input_shape[1:], name="image")
    outputs = tail_embedding(front(inputs))
    if flip_average:
        mirrored = tail_embedding(front(MirrorImage(name="mirror")(inputs)))
        both = layers.Add(name="face_plus_mirror")([outputs, mirrored])
        outputs = layers.UnitNormalization(name="flip_average")(both)
    return keras.Model(inputs, outputs, name="face_embedding")
