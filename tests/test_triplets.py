"""Tests of random triplets, P x K batches and the mining losses on a hand-made batch."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from pyimagesearch.triplets import (
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    hardest_negative,
    hardest_positive,
    negative_mask,
    pairwise_distances,
    pk_batch_indices,
    positive_mask,
    random_triplet_indices,
    triplet_loss,
    triplet_mask,
)

# Two people, two images each, on a line: 0 and 1 (person 7), 3 and 5 (person 9).
LABELS = np.array([7, 7, 9, 9])
POINTS = np.array([[0.0], [1.0], [3.0], [5.0]], dtype="float32")


def numpy(x) -> np.ndarray:
    return ops.convert_to_numpy(x)


def test_pairwise_distances_match_the_points():
    expected = np.abs(POINTS - POINTS.T)
    np.testing.assert_allclose(numpy(pairwise_distances(POINTS)), expected, atol=1e-5)


def test_masks_on_a_hand_made_batch():
    np.testing.assert_array_equal(numpy(positive_mask(LABELS)), [[0, 1, 0, 0], [1, 0, 0, 0],
                                                                  [0, 0, 0, 1], [0, 0, 1, 0]])
    np.testing.assert_array_equal(numpy(negative_mask(LABELS)), [[0, 0, 1, 1], [0, 0, 1, 1],
                                                                  [1, 1, 0, 0], [1, 1, 0, 0]])
    valid = {tuple(t) for t in np.argwhere(numpy(triplet_mask(LABELS)))}
    assert valid == {(0, 1, 2), (0, 1, 3), (1, 0, 2), (1, 0, 3), (2, 3, 0), (2, 3, 1), (3, 2, 0), (3, 2, 1)}


def test_hardest_positive_and_negative_by_hand():
    distances = pairwise_distances(POINTS)
    positives, negatives = positive_mask(LABELS), negative_mask(LABELS)
    np.testing.assert_allclose(numpy(hardest_positive(distances, positives)), [1, 1, 2, 2], atol=1e-5)
    np.testing.assert_allclose(numpy(hardest_negative(distances, negatives)), [3, 2, 2, 4], atol=1e-5)


def test_batch_hard_by_hand():
    # Hardest positive - hardest negative + 0.5 per anchor: 1-3, 1-2, 2-2, 2-4 (+0.5) -> only anchor 2 counts.
    assert float(batch_hard_triplet_loss(LABELS, POINTS, margin=0.5)) == pytest.approx(0.5 / 4, abs=1e-5)
    # margin 2: 0, 1, 2, 0 -> 3 / 4
    assert float(batch_hard_triplet_loss(LABELS, POINTS, margin=2.0)) == pytest.approx(0.75, abs=1e-5)


def test_batch_hard_skips_anchors_without_a_positive():
    labels, points = np.array([7, 7, 9]), np.array([[0.0], [1.0], [1.2]], dtype="float32")
    # Anchor 2 (alone) does not count; anchors 0 and 1 give
    # max(1 - 1.2 + 0.5, 0) = 0.3 and max(1 - 0.2 + 0.5, 0) = 1.3.
    assert float(batch_hard_triplet_loss(labels, points, margin=0.5)) == pytest.approx(0.8, abs=1e-5)


@pytest.mark.parametrize(("margin", "expected"), [(0.5, 0.5), (2.0, 4.0 / 3.0)])
def test_batch_all_averages_the_violating_triplets(margin, expected):
    # margin 0.5: only (2, 3, 1) violates it, by 0.5; margin 2: (1,0,2)=1, (2,3,0)=1, (2,3,1)=2.
    assert float(batch_all_triplet_loss(LABELS, POINTS, margin=margin)) == pytest.approx(expected, abs=1e-5)


def test_losses_are_zero_for_well_separated_people():
    far = np.array([[0.0], [0.1], [10.0], [10.1]], dtype="float32")
    assert float(batch_all_triplet_loss(LABELS, far)) == 0.0
    assert float(batch_hard_triplet_loss(LABELS, far)) == pytest.approx(0.0, abs=1e-6)


def test_triplet_loss_by_hand():
    anchor = np.zeros((2, 2), dtype="float32")
    positive = np.array([[3.0, 4.0], [0.0, 1.0]], dtype="float32")
    negative = np.array([[0.0, 1.0], [3.0, 4.0]], dtype="float32")
    # (5 - 1 + 0.5) and max(1 - 5 + 0.5, 0) = 0
    assert float(triplet_loss(anchor, positive, negative, margin=0.5)) == pytest.approx(2.25, abs=1e-5)


def test_random_triplets_obey_the_rules_and_are_seeded():
    labels = np.array([0, 0, 0, 1, 1, 2])  # person 2 has one image: never an anchor
    triplets = random_triplet_indices(labels, 200, seed=3)
    anchors, positives, negatives = triplets.T
    assert (labels[anchors] == labels[positives]).all() and (anchors != positives).all()
    assert (labels[negatives] != labels[anchors]).all() and 5 in negatives and 5 not in anchors
    np.testing.assert_array_equal(triplets, random_triplet_indices(labels, 200, seed=3))
    with pytest.raises(ValueError, match="two people"):
        random_triplet_indices(np.zeros(4), 1)


def test_pk_batch_has_k_distinct_images_of_p_people():
    labels = np.repeat(np.arange(6), [4, 4, 4, 1, 4, 2])
    batch = pk_batch_indices(labels, people_per_batch=3, images_per_person=3, seed=0)
    assert len(batch) == 9 and len(set(batch)) == 9
    people, counts = np.unique(labels[batch], return_counts=True)
    assert len(people) == 3 and (counts == 3).all() and not set(people) & {3, 5}
    with pytest.raises(ValueError, match="only 4 have 3\\+ images"):
        pk_batch_indices(labels, people_per_batch=5, images_per_person=3)


# ---------------------------------------------------------------- loaders and the Keras loss

# Nine "images" whose only pixel is their person's number, so a batch shows whose photos it holds.
PEOPLE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 3])
PIXELS = PEOPLE.astype("uint8").reshape(-1, 1, 1, 1) * np.ones((1, 2, 2, 3), "uint8")
# The same images with the photo's own number in the green channel: a batch shows which photos it holds.
PHOTOS = PIXELS.copy()
PHOTOS[..., 1] = np.arange(len(PEOPLE)).reshape(-1, 1, 1)


def test_triplet_dataset_batches_follow_the_rules():
    from pyimagesearch.triplets import TripletDataset

    data = TripletDataset(PHOTOS, PEOPLE, batch_size=8, steps=3, scale=1.0, seed=0)
    assert len(data) == 3
    (anchor, positive, negative), = data[1]
    assert anchor.shape == (8, 2, 2, 3) and anchor.dtype == np.float32
    (a, a_photo), (p, p_photo), (n, _) = ((x[:, 0, 0, 0], x[:, 0, 0, 1])
                                          for x in (anchor, positive, negative))
    assert (a == p).all() and (a_photo != p_photo).all() and (a != n).all()  # same person, another photo
    np.testing.assert_array_equal(np.stack([a_photo, p_photo], axis=1), data.triplets[8:16, :2])
    before = data.triplets.copy()
    data.on_epoch_end()
    assert not np.array_equal(before, data.triplets)  # fresh triplets every epoch


def test_random_pairs_are_half_positive_with_matching_labels():
    from pyimagesearch.triplets import RandomPairDataset

    (left, right), labels = RandomPairDataset(PIXELS, PEOPLE, batch_size=10, steps=2, scale=1.0, seed=0)[0]
    assert list(labels) == [1] * 5 + [0] * 5
    same = left[:, 0, 0, 0] == right[:, 0, 0, 0]
    np.testing.assert_array_equal(same, labels == 1)


def test_pk_dataset_has_k_images_of_p_people_and_their_codes():
    from pyimagesearch.triplets import PKDataset

    data = PKDataset(PIXELS, PEOPLE + 10, people_per_batch=2, images_per_person=2, steps=4, seed=0)
    images, codes = data[0]
    assert images.shape == (4, 2, 2, 3) and codes.dtype == np.float32
    assert codes[0] == codes[1] and codes[2] == codes[3] and codes[0] != codes[2]
    np.testing.assert_allclose(images[:, 0, 0, 0] * 255, codes, atol=1e-4)  # codes 0-3 are the people 10-13
    with pytest.raises(ValueError, match="only 3 have 2"):
        PKDataset(PIXELS, PEOPLE, people_per_batch=4, images_per_person=2)[0]


@pytest.mark.parametrize("mining", ["hard", "all"])
def test_mined_triplet_loss_is_the_function_and_survives_a_round_trip(mining):
    import keras

    from pyimagesearch.triplets import MinedTripletLoss

    loss = MinedTripletLoss(mining, margin=0.5)
    expected = {"hard": batch_hard_triplet_loss, "all": batch_all_triplet_loss}[mining](LABELS, POINTS, 0.5)
    assert float(loss(LABELS.astype("float32"), POINTS)) == pytest.approx(float(expected), abs=1e-6)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (again.mining, again.margin) == (mining, 0.5)
    with pytest.raises(ValueError, match="mining="):
        MinedTripletLoss("semi")


def test_tf_triplet_dataset_reads_the_files(tmp_path):
    pytest.importorskip("tensorflow")
    import cv2

    from pyimagesearch.triplets import tf_triplet_dataset

    paths = []
    for i, person in enumerate(PEOPLE):  # red: the person, green: the photo
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((6, 6, 3), (0, 10 * i, 50 * person), np.uint8))  # BGR
    dataset = tf_triplet_dataset(paths, PEOPLE, n=12, size=4, batch_size=6, seed=0)
    (anchor, positive, negative), = next(iter(dataset))
    assert tuple(anchor.shape) == (6, 4, 4, 3)
    (a, a_photo), (p, p_photo), (n, _) = ((x.numpy()[:, 0, 0, 0], x.numpy()[:, 0, 0, 1])
                                         for x in (anchor, positive, negative))
    assert (a == p).all() and (a_photo != p_photo).all() and (a != n).all() and set(a) <= {0.0, 50.0, 100.0}
    expected = random_triplet_indices(PEOPLE, 12, seed=0)[:6]  # the pipeline's triplets, in order
    np.testing.assert_array_equal(np.stack([a_photo, p_photo], axis=1) / 10, expected[:, :2])


def test_a_bad_face_file_is_named(tmp_path):
    pytest.importorskip("tensorflow")
    import tensorflow as tf

    from pyimagesearch.images import ImageError
    from pyimagesearch.triplets import load_face_file, tf_load_face

    bad = tmp_path / "Ann_0001.jpg"
    bad.write_text("not a picture")
    with pytest.raises(ImageError, match="Ann_0001.jpg"):
        load_face_file(bad, 4)
    dataset = tf.data.Dataset.from_tensor_slices([str(bad)]).map(lambda path: tf_load_face(path, 4))
    with pytest.raises(tf.errors.InvalidArgumentError, match="Ann_0001.jpg"):
        next(iter(dataset))
