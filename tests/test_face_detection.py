"""Tests of the face detector wrapper: image normalisation, the SSD's blob and rows, cropping,
model files (OpenCV 5's missing Caffe reader, empty or corrupt files), the three detectors, batching."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from pyimagesearch import config
from pyimagesearch.datasets import DETECTOR_FILES, DatasetNotFoundError
from pyimagesearch.face_detection import (
    KINDS,
    SSD_MEAN,
    Detection,
    DetectorError,
    FaceDetector,
    crop,
    square_box,
    ssd_blob,
    ssd_faces,
    ssd_kind,
    to_bgr,
    yunet_faces,
    yunet_size,
)

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


# ---------------------------------------------------------------- the SSD's blob and rows


def test_ssd_blob_squashes_to_300x300_and_subtracts_the_mean():
    wide = np.zeros((150, 400, 3), np.uint8)
    wide[:, :200] = (110, 180, 130)  # left half one BGR colour, right half black
    blob = ssd_blob([wide, np.full((60, 60, 3), 255, np.uint8)])
    assert blob.shape == (2, 3, 300, 300) and blob.dtype == np.float32
    # squashed, not cropped: the left half of the photo is the left half of the blob
    np.testing.assert_allclose(blob[0, :, :, :140].reshape(3, -1).T, [[6, 3, 7]] * (300 * 140))
    np.testing.assert_allclose(blob[0, :, 150, 160:], -np.array(SSD_MEAN)[:, None].repeat(140, 1))
    np.testing.assert_allclose(blob[1, :, 0, 0], 255 - np.array(SSD_MEAN))


def test_ssd_faces_scales_filters_ranks_and_clips():
    output = np.array([[[
        [0, 1, 0.70, 0.10, 0.20, 0.50, 0.60],  # image 0 (200 wide, 100 high)
        [0, 1, 0.95, 0.50, 0.50, 1.20, 0.90],  # sticks out on the right: clipped at x = 200
        [0, 1, 0.30, 0.00, 0.00, 0.50, 0.50],  # below the confidence
        [1, 1, 0.99, 4.10, 4.00, 4.80, 4.90],  # wholly outside image 1: dropped
        [1, 1, 0.60, 0.25, 0.00, 0.75, 0.50],  # image 1 (80 wide, 40 high)
    ]]], np.float32)
    faces = ssd_faces(output, [(100, 200), (40, 80)], confidence=0.5)
    assert [len(f) for f in faces] == [2, 1]
    boxes = [[[f.x1, f.y1, f.x2, f.y2, f.confidence] for f in image] for image in faces]
    np.testing.assert_allclose(boxes[0], [[100, 50, 200, 90, 0.95], [20, 20, 100, 60, 0.70]], rtol=1e-6)
    np.testing.assert_allclose(boxes[1], [[20, 0, 60, 20, 0.60]], rtol=1e-6)


# ---------------------------------------------------------------- crop


def test_detection_size():
    face = Detection(10, 20, 50, 100, 0.9)
    assert (face.width, face.height, face.area, face.landmarks) == (40, 80, 3200, None)


def test_square_box_grows_squares_and_clips():
    face = Detection(130, 80, 170, 120, 0.9)  # 40x40, centre (150, 100)
    assert square_box(face, 0.25, 300, 200) == (120, 70, 180, 130)  # side 40 x 1.5 = 60
    tall = Detection(0, 0, 20, 40, 0.9)  # side 40 x 2 = 80 around (10, 20), clipped at 0
    assert square_box(tall, 0.5, 100, 100) == (0, 0, 50, 60)


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


# ---------------------------------------------------------------- YuNet on large images


def test_yunet_size_shrinks_only_large_images():
    assert yunet_size(250, 250) == (250, 250)
    assert yunet_size(640, 100) == (640, 100)
    assert yunet_size(6000, 6000) == (640, 640)
    assert yunet_size(6000, 4000) == (640, 427)
    assert yunet_size(4000, 6000, max_side=300) == (200, 300)


def test_yunet_faces_map_boxes_and_landmarks_back():
    # found at 640x427 in a 6000x4000 image: x scales by 6000/640, y by 4000/427
    row = np.array([[64, 42.7, 32, 21.35, *[70, 50, 90, 50, 80, 55, 72, 60, 88, 60], 0.9]], np.float32)
    (face,) = yunet_faces(row, (640, 427), 6000, 4000)
    fx, fy = 6000 / 640, 4000 / 427
    np.testing.assert_allclose([face.x1, face.y1, face.x2, face.y2],
                               [64 * fx, 42.7 * fy, 96 * fx, 64.05 * fy], rtol=1e-5)
    np.testing.assert_allclose(face.landmarks[0], [70 * fx, 50 * fy], rtol=1e-5)
    assert face.confidence == pytest.approx(0.9)
    assert yunet_faces(None, (640, 427), 6000, 4000) == []


# ---------------------------------------------------------------- model files


def test_ssd_kind_follows_opencvs_caffe_reader(monkeypatch):
    monkeypatch.setattr(cv2.dnn, "readNetFromCaffe", lambda *files: None, raising=False)
    assert ssd_kind() == "caffe"
    monkeypatch.delattr(cv2.dnn, "readNetFromCaffe")  # as in OpenCV 5
    assert ssd_kind() == "tensorflow"


@pytest.mark.mirror
def test_caffe_detector_uses_tensorflow_where_opencv_reads_no_caffe(monkeypatch, capsys):
    monkeypatch.delattr(cv2.dnn, "readNetFromCaffe", raising=False)
    detector = FaceDetector("caffe")
    assert detector.kind == "tensorflow"
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 1 and "no cv2.dnn.readNetFromCaffe" in said[0] and "TensorFlow" in said[0]
    assert len(detector.detect(lfw_image(LFW_IMAGES[0]))) == 1


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
    names = DETECTOR_FILES[kind]
    for name in names:
        (tmp_path / name).write_text("not a model\n")
    with pytest.raises(DetectorError, match=f"{names[0]}: not a (text|binary) model"):
        FaceDetector(kind, path=tmp_path)


MODEL_FILES = [(kind, name) for kind in ("caffe", "tensorflow", "yunet") for name in DETECTOR_FILES[kind]]


def model_folder(tmp_path, kind: str):
    """A writable copy of the mirror's model files of ``kind``."""
    for name in DETECTOR_FILES[kind]:
        shutil.copyfile(config.data_dir() / "face_detector" / name, tmp_path / name)
    return tmp_path


def one_line_error(kind: str, folder, pattern: str) -> str:
    """The DetectorError that constructing the detector raises, checked to be one line."""
    with pytest.raises(DetectorError, match=pattern) as raised:
        FaceDetector(kind, path=folder)
    assert "\n" not in str(raised.value)
    return str(raised.value)


@pytest.mark.mirror
@pytest.mark.parametrize(("kind", "name"), MODEL_FILES)
def test_an_empty_model_file_fails_at_construction(tmp_path, kind, name):
    folder = model_folder(tmp_path, kind)
    (folder / name).write_bytes(b"")
    one_line_error(kind, folder, f"{name}: empty file")


@pytest.mark.mirror
@pytest.mark.parametrize(("kind", "name"), MODEL_FILES)
def test_a_file_of_the_wrong_format_fails_at_construction(tmp_path, kind, name):
    folder = model_folder(tmp_path, kind)
    text = name.endswith(("prototxt", "pbtxt"))
    (folder / name).write_bytes(bytes(range(256)) if text else b'input: "data"\n')
    one_line_error(kind, folder, f"{name}: not a {'text' if text else 'binary'} model")


@pytest.mark.mirror
@pytest.mark.parametrize(("kind", "name"), MODEL_FILES)
def test_a_corrupted_model_file_fails_its_checksum(tmp_path, kind, name):
    folder = model_folder(tmp_path, kind)
    data = bytearray((folder / name).read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # same size and format, other weights or layout
    (folder / name).write_bytes(bytes(data))
    one_line_error(kind, folder, f"{name}: checksum mismatch")


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


@pytest.mark.mirror
def test_yunet_maps_the_faces_of_a_large_image_back():
    detector = FaceDetector("yunet", confidence=0.5)
    image = to_bgr(lfw_image(LFW_IMAGES[0]))  # 250x250
    big_image = cv2.resize(image, (2400, 2000), interpolation=cv2.INTER_CUBIC)  # x 9.6 and x 8
    (big,) = detector.detect(big_image)
    # YuNet is shown the image shrunk to 640x533: the same face there, scaled back exactly
    shown = yunet_size(2400, 2000)
    assert shown == (640, 533)
    (seen,) = detector.detect(cv2.resize(big_image, shown, interpolation=cv2.INTER_AREA))
    back = np.array([2400 / 640, 2000 / 533] * 2)
    np.testing.assert_allclose([big.x1, big.y1, big.x2, big.y2],
                               np.array([seen.x1, seen.y1, seen.x2, seen.y2]) * back, rtol=1e-5)
    np.testing.assert_allclose(big.landmarks, np.array(seen.landmarks) * back[:2], rtol=1e-5)
    # and its centre where the face is in the original photo (the stretch changes the box's shape)
    (small,) = detector.detect(image)
    centre = [(big.x1 + big.x2) / 2, (big.y1 + big.y2) / 2]
    np.testing.assert_allclose(centre, [(small.x1 + small.x2) / 2 * 9.6, (small.y1 + small.y2) / 2 * 8],
                               atol=100)
