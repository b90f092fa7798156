"""Tests of the face detector wrapper: image normalisation, cropping, the three detectors, batching."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pyimagesearch import config
from pyimagesearch.datasets import DatasetNotFoundError
from pyimagesearch.face_detection import KINDS, Detection, DetectorError, FaceDetector, crop, to_bgr

LFW_IMAGES = ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg", "AJ_Cook/AJ_Cook_0001.jpg",
              "Aaron_Peirsol/Aaron_Peirsol_0002.jpg")


def lfw_image(name: str) -> np.ndarray:
    """An LFW image from the mirror, as stored (greyscale)."""
    image = cv2.imread(str(config.data_dir() / "lfw" / "lfw_funneled" / name), cv2.IMREAD_UNCHANGED)
    assert image is not None, name
    return image


# ---------------------------------------------------------------- to_bgr


GREY = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20


@pytest.mark.parametrize("image", [GREY, GREY[:, :, None], np.dstack([GREY, np.full_like(GREY, 7)])],
                         ids=["2d", "one channel", "grey and alpha"])
def test_to_bgr_repeats_greyscale(image):
    result = to_bgr(image)
    assert result.shape == (3, 4, 3) and result.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(result[:, :, channel], GREY)


def test_to_bgr_drops_alpha_and_keeps_bgr():
    bgr = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_bgr(np.dstack([bgr, np.zeros((5, 6), np.uint8)])), bgr)
    assert to_bgr(bgr) is bgr


def test_to_bgr_scales_16_bit_and_float():
    deep = np.array([[0, 257, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(to_bgr(deep)[0, :, 0], [0, 1, 255])
    floats = np.array([[-0.5, 0.5, 1.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(to_bgr(floats)[0, :, 1], [0, 128, 255, 255])


@pytest.mark.parametrize(("image", "message"), [
    (np.zeros((0, 5), np.uint8), "empty image"),
    (np.zeros((4, 4, 5), np.uint8), "unsupported image shape"),
    (np.zeros((4, 4), np.int32), "unsupported pixel type int32"),
])
def test_to_bgr_rejects_what_it_cannot_convert(image, message):
    with pytest.raises(ValueError, match=message):
        to_bgr(image)


# ---------------------------------------------------------------- crop


def test_detection_size():
    face = Detection(10, 20, 50, 100, 0.9)
    assert (face.width, face.height, face.area, face.landmarks) == (40, 80, 3200, None)


def test_crop_takes_a_square_with_margin():
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    face = Detection(130, 80, 170, 120, 0.9)  # 40x40, centre (150, 100)
    result = crop(image, face, margin=0.25, size=30)  # side 40 * 1.5 = 60
    np.testing.assert_array_equal(result, cv2.resize(image[70:130, 120:180], (30, 30),
                                                     interpolation=cv2.INTER_AREA))


def test_crop_clips_to_the_image_and_squares_a_tall_box():
    image = np.zeros((100, 100), np.uint8)
    image[:, :40] = 255
    # side 40 x (1 + 2 x 0.5) = 80 around (10, 20): x -30..50, y -20..60, clipped to x 0..50, y 0..60
    result = crop(image, Detection(0, 0, 20, 40, 0.9), margin=0.5, size=64)
    assert result.shape == (64, 64)
    assert result[:, :50].min() == 255 and result[:, 52:].max() == 0  # 40 of 50 columns white


def test_crop_rejects_bad_arguments():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="lies outside"):
        crop(image, Detection(20, 20, 30, 30, 0.9), margin=0)
    with pytest.raises(ValueError, match="margin=-0.1"):
        crop(image, Detection(1, 1, 5, 5, 0.9), margin=-0.1)


# ---------------------------------------------------------------- detector set-up


def test_detector_rejects_unknown_kind_and_confidence():
    with pytest.raises(ValueError, match="kind='haar': choose one of caffe, tensorflow, yunet"):
        FaceDetector("haar")
    with pytest.raises(ValueError, match="confidence=1.5"):
        FaceDetector(confidence=1.5)


def test_detector_names_missing_model_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="deploy.prototxt does not exist"):
        FaceDetector("caffe", path=tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_detector_names_corrupt_model_files(tmp_path, kind):
    names = {"caffe": ["deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"],
             "tensorflow": ["opencv_face_detector_uint8.pb", "opencv_face_detector.pbtxt"],
             "yunet": ["face_detection_yunet_2026may.onnx"]}[kind]
    for name in names:
        (tmp_path / name).write_text("not a model\n")
    with pytest.raises(DetectorError, match=f"cannot load the {kind} face detector from .*{names[0]}"):
        FaceDetector(kind, path=tmp_path)


# ---------------------------------------------------------------- detection on real faces


@pytest.mark.mirror
@pytest.mark.parametrize("kind", KINDS)
def test_each_detector_finds_the_centred_lfw_face(kind):
    faces = FaceDetector(kind, confidence=0.5).detect(lfw_image(LFW_IMAGES[0]))  # greyscale input
    assert len(faces) == 1
    face = faces[0]
    assert face.confidence > 0.9
    assert 60 < face.width < 140 and 80 < face.height < 170
    assert abs((face.x1 + face.x2) / 2 - 125) < 25 and abs((face.y1 + face.y2) / 2 - 125) < 25
    if kind == "yunet":
        assert len(face.landmarks) == 5
        assert all(face.x1 <= x <= face.x2 and face.y1 <= y <= face.y2 for x, y in face.landmarks)
    else:
        assert face.landmarks is None


@pytest.mark.mirror
@pytest.mark.parametrize("kind", KINDS)
def test_batch_detection_equals_single_image_detection(kind):
    detector = FaceDetector(kind, confidence=0.3)
    images = [lfw_image(name) for name in LFW_IMAGES]
    images[1] = cv2.resize(to_bgr(images[1]), (180, 240))  # other size and layout in the same batch
    batch = detector.detect_batch(images)
    assert len(batch) == len(images)
    for image, in_batch in zip(images, batch, strict=True):
        single = detector.detect(image)
        assert len(in_batch) == len(single) >= 1
        for a, b in zip(in_batch, single, strict=True):
            np.testing.assert_allclose([a.x1, a.y1, a.x2, a.y2], [b.x1, b.y1, b.x2, b.y2], atol=0.5)
            assert a.confidence == pytest.approx(b.confidence, abs=1e-3)


@pytest.mark.mirror
def test_no_face_in_a_blank_image_and_an_empty_batch():
    detector = FaceDetector()
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    assert detector.detect_batch([]) == []
