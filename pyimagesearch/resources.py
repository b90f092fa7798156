"""The course's data and model files: where each lives, its checksums, and fetching it.

Every file is looked for, in order, at

1. an explicit ``path`` argument (trusted as given),
2. the read-only mirror named by ``SIAMESE_DATA_DIR`` (the layout of ``shared/data``; a
   relative value is resolved against the repository root, see :func:`config.data_dir`),
3. the local cache (``SIAMESE_CACHE_DIR``, default ``~/.cache/siamese-keras``),
4. its official URL, downloaded into the cache with ``keras.utils.get_file`` and
   verified by checksum.

Only the cache is ever written to, never the mirror or an explicit path. A cached file
whose checksum does not match is not deleted: it is renamed ``<name>.corrupt`` (kept for
inspection) and downloaded again.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

from pyimagesearch import config

__all__ = [
    "ATT_FACES", "DETECTOR_FILES", "FACE_DETECTOR", "FASHION_MNIST", "IMAGENET_WEIGHTS", "LFW_FUNNELED",
    "LFW_PAIRS", "MNIST", "ChecksumError", "DatasetNotFoundError", "Resource", "all_resources",
    "data_report", "face_detector_files", "fetch", "file_digest", "imagenet_weights", "locate", "verify",
]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset or model file is nowhere to be found and cannot be downloaded."""


class ChecksumError(ValueError):
    """A file's content does not match its published checksum."""


@dataclass(frozen=True)
class Resource:
    """One file (or archive of a folder) with where it lives and how to check it.

    ``relpath`` is the location inside the mirror and the cache. ``hashes`` are the
    accepted sha256 (64 hex digits) or md5 (32) digests, the first one used to verify
    downloads unless ``unverified_download`` says that no checksum of the official
    file is published. For a folder, ``archive`` names the file that ``urls`` point to,
    unpacked into ``relpath``.
    """

    name: str
    relpath: str
    urls: tuple[str, ...]
    hashes: tuple[str, ...] = ()
    archive: str | None = None
    unverified_download: bool = False

    @property
    def is_folder(self) -> bool:
        """True when the resource is a folder that ships as an archive."""
        return self.archive is not None


_MNIST_URLS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
_FASHION_URLS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
_OPENCV_3RDPARTY = "https://raw.githubusercontent.com/opencv/opencv_3rdparty/"
_KERAS_APPS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_MOBILENET_V2 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
_RESNET50 = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


def _idx_files(folder: str, bases: tuple[str, ...], hashes: dict[str, tuple[str, ...]]):
    """The four IDX resources of an MNIST-style dataset."""
    return {
        stem: Resource(f"{folder} {stem}", f"{folder}/{stem}-ubyte.gz",
                       tuple(base + f"{stem}-ubyte.gz" for base in bases), hashes[stem])
        for stem in hashes
    }


# MNIST: LeCun's md5 values; the mirror's files are byte-identical (same sha256).
MNIST = _idx_files("mnist", _MNIST_URLS, {
    "train-images-idx3": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                          "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                          "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                         "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                         "ec29112dd5afa0611ce80d1b7f02629c"),
})

# Fashion-MNIST: Zalando's md5 values first; the mirror's gzip headers differ (same
# arrays), so its sha256 values are accepted too.
FASHION_MNIST = _idx_files("fashion-mnist", _FASHION_URLS, {
    "train-images-idx3": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                          "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
    "train-labels-idx1": ("25c81989df183df01b3e8a0aad5dffbe",
                          "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
    "t10k-images-idx3": ("bef4ecab320f06d8554ea6380940ec79",
                         "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
    "t10k-labels-idx1": ("bb300cfdad3c16e7a12a480ee83cd310",
                         "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
})

# AT&T faces: the Cambridge archive, with the md5 that Idiap's Bob loader publishes.
ATT_FACES = Resource(
    "AT&T faces", "att_faces",
    ("https://www.cl.cam.ac.uk/research/dtg/attarchive/pub/data/att_faces.zip",
     "http://www.idiap.ch/software/bob/data/bob/att_faces.zip"),
    ("6efb25cb0d40755e9492b9c012e3348d",), archive="att_faces.zip",
)

# LFW: the URLs and sha256 values that scikit-learn's LFW loader uses.
LFW_FUNNELED = Resource(
    "LFW funneled", "lfw/lfw_funneled", ("https://ndownloader.figshare.com/files/5976015",),
    ("b47c8422c8cded889dc5a13418c4bc2abbda121092b3533a83306f90d900100a",),
    archive="lfw-funneled.tgz",
)
LFW_PAIRS = {
    "pairs": Resource("LFW pairs.txt", "lfw/pairs.txt",
                      ("https://ndownloader.figshare.com/files/5976006",),
                      ("ea42330c62c92989f9d7c03237ed5d591365e89b3e649747777b70e692dc1592",)),
    "pairsDevTrain": Resource("LFW pairsDevTrain.txt", "lfw/pairsDevTrain.txt",
                              ("https://ndownloader.figshare.com/files/5976012",),
                              ("1d454dada7dfeca0e7eab6f65dc4e97a6312d44cf142207be28d688be92aabfa",)),
    "pairsDevTest": Resource("LFW pairsDevTest.txt", "lfw/pairsDevTest.txt",
                             ("https://ndownloader.figshare.com/files/5976009",),
                             ("7cb06600ea8b2814ac26e946201cdb304296262aad67d046a16a7ec85d0ff87c",)),
}

# OpenCV's face detectors. The Caffe and TensorFlow weights match OpenCV's published
# sha1 values; deploy.prototxt and the .pbtxt have none published, so the mirror's
# sha256 is what a download is checked against.
FACE_DETECTOR = {
    "deploy.prototxt": Resource(
        "res10 SSD deploy.prototxt", "face_detector/deploy.prototxt",
        ("https://raw.githubusercontent.com/opencv/opencv/4.x/samples/dnn/face_detector/deploy.prototxt",),
        ("95e80355a222a58abd74189bf93f6ca71473ab483e98494e34e355411b985580",)),
    "res10_300x300_ssd_iter_140000.caffemodel": Resource(
        "res10 SSD Caffe weights", "face_detector/res10_300x300_ssd_iter_140000.caffemodel",
        (_OPENCV_3RDPARTY + "dnn_samples_face_detector_20170830/res10_300x300_ssd_iter_140000.caffemodel",),
        ("2a56a11a57a4a295956b0660b4a3d76bbdca2206c4961cea8efe7d95c7cb2f2d",)),
    "opencv_face_detector_uint8.pb": Resource(
        "res10 SSD TensorFlow uint8 weights", "face_detector/opencv_face_detector_uint8.pb",
        (_OPENCV_3RDPARTY + "dnn_samples_face_detector_20180220_uint8/opencv_face_detector_uint8.pb",),
        ("5c71d752ef2cbf2f457ac82fdd580fcb2522fd04c5efdaed18eb6d9e2843fbed",)),
    "opencv_face_detector.pbtxt": Resource(
        "res10 SSD TensorFlow graph", "face_detector/opencv_face_detector.pbtxt",
        ("https://raw.githubusercontent.com/opencv/opencv_extra/4.x/testdata/dnn/opencv_face_detector.pbtxt",),
        ("2e2c720657684a43c7c99f321cd872138aa3e68cb036f6103c1d8a4f732608e0",)),
    "face_detection_yunet_2026may.onnx": Resource(
        "YuNet face detector", "face_detector/face_detection_yunet_2026may.onnx",
        ("https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
         "face_detection_yunet_2026may.onnx",),
        ("ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",)),
}
DETECTOR_FILES = {
    "caffe": ("deploy.prototxt", "res10_300x300_ssd_iter_140000.caffemodel"),
    "tensorflow": ("opencv_face_detector_uint8.pb", "opencv_face_detector.pbtxt"),
    "yunet": ("face_detection_yunet_2026may.onnx",),
}

# ImageNet backbone weights (no top) at Keras' own URLs. Keras publishes no hash for
# MobileNetV2 (and checks none itself); the mirror's copy is rebuilt from the TF-slim
# checkpoint, so its sha256 only checks the mirror.
IMAGENET_WEIGHTS = {
    "mobilenet_v2": Resource(
        "MobileNetV2 ImageNet weights", f"keras-weights/{_MOBILENET_V2}",
        (_KERAS_APPS + "mobilenet_v2/" + _MOBILENET_V2,),
        ("ceb704354f4d66a9e75a66eb59d1eecb6db1f3229739521a0a99ac5b9a198d1e",),
        unverified_download=True),
    "resnet50": Resource(
        "ResNet50 ImageNet weights", f"keras-weights/{_RESNET50}",
        (_KERAS_APPS + "resnet/" + _RESNET50,), ("4d473c1dd8becc155b73f8504c6f6626",)),
}


# ---------------------------------------------------------------- resolution


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file (``"sha256"`` or ``"md5"``); ``hashlib.file_digest`` needs Python 3.11+."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, algorithm).hexdigest()


def verify(path: Path, hashes: tuple[str, ...]) -> None:
    """Raise ChecksumError unless the file matches one of the accepted digests."""
    if not hashes:
        return
    digests = {}
    for expected in hashes:
        algorithm = "md5" if len(expected) == 32 else "sha256"
        digests.setdefault(algorithm, file_digest(path, algorithm))
        if digests[algorithm] == expected.lower():
            return
    raise ChecksumError(
        f"{path}: checksum mismatch (sha256 {digests.get('sha256') or file_digest(path, 'sha256')}); "
        f"expected one of {', '.join(hashes)}. The file is corrupt or not the published version."
    )


def locate(resource: Resource, path: str | Path | None = None) -> tuple[str, Path | None]:
    """Where a resource would be taken from, without downloading: (source, path).

    ``source`` is ``"path"``, ``"mirror"``, ``"cache"`` or ``"missing"``. A set
    ``SIAMESE_DATA_DIR`` that is not an existing folder raises DatasetNotFoundError.
    """
    if path is not None:
        return "path", Path(path)
    mirror = _mirror()
    for source, root in (("mirror", mirror), ("cache", config.cache_dir())):
        if root is not None and (root / resource.relpath).exists():
            return source, root / resource.relpath
    return "missing", None


def _mirror() -> Path | None:
    """The mirror folder, or None when unset; an unusable setting is an error, not a silent fallback."""
    problem = config.data_dir_problem()
    if problem:
        raise DatasetNotFoundError(problem)
    return config.data_dir()


def fetch(resource: Resource, path: str | Path | None = None) -> Path:
    """Return a local path to the resource, downloading it into the cache if needed.

    A cached copy with the wrong checksum is renamed ``<name>.corrupt`` (with a warning)
    and downloaded again; it is never deleted.
    """
    source, found = locate(resource, path)
    if source == "path":
        if not found.exists():
            raise DatasetNotFoundError(f"{resource.name}: {found} does not exist.")
        return found  # an explicit path is the reader's choice and is trusted
    if source == "mirror":
        if not resource.is_folder:
            verify(found, resource.hashes)
        return found
    cache_note = None
    if source == "cache":
        if resource.is_folder or resource.unverified_download or _matches(found, resource.hashes):
            return found
        cache_note = _quarantine(found)
    return _download(resource, cache_note)  # missing, or a corrupt cached copy: download it again


def _quarantine(path: Path) -> str:
    """Rename a corrupt cached file to ``<name>.corrupt``; return what happened, for messages."""
    corrupt = path.with_name(path.name + ".corrupt")
    try:
        path.replace(corrupt)
    except OSError as error:
        raise ChecksumError(f"{path}: corrupt (checksum mismatch) and cannot be moved aside to "
                            f"{corrupt.name} ({error.strerror}); remove it by hand") from None
    note = f"{path} was corrupt (checksum mismatch); moved aside to {corrupt.name}"
    warnings.warn(f"{note}; downloading it again.", stacklevel=3)
    return note


def _matches(path: Path, hashes: tuple[str, ...]) -> bool:
    """True when the file matches one of the accepted digests."""
    try:
        verify(path, hashes)
    except ChecksumError:
        return False
    return True


def _download(resource: Resource, cache_note: str | None = None) -> Path:
    """Download (and unpack) a resource into the cache, trying each URL in turn.

    ``cache_note`` says what became of a corrupt cached copy, for the not-found message.
    """
    from pyimagesearch.quiet import import_keras

    keras = import_keras()  # deferred: only downloads need Keras

    target = config.cache_dir() / resource.relpath
    target.parent.mkdir(parents=True, exist_ok=True)  # else get_file falls back to /tmp
    fname = resource.archive or target.name
    subdir = str(Path(resource.relpath).parent)
    file_hash = None if resource.unverified_download or not resource.hashes else resource.hashes[0]
    failures = []
    for url in resource.urls:
        try:
            downloaded = Path(keras.utils.get_file(
                fname, url, file_hash=file_hash, cache_dir=str(config.cache_dir()),
                cache_subdir=subdir,
            ))
        except ValueError as error:  # downloaded, but the checksum did not match
            (target.parent / fname).unlink(missing_ok=True)
            raise ChecksumError(f"{resource.name}: download from {url} is corrupt: {error}") from None
        except Exception as error:  # noqa: BLE001 - get_file wraps network errors in Exception
            failures.append(f"{url} ({error})")
            continue
        if resource.is_folder:
            _unpack(downloaded, target)
        return target
    raise DatasetNotFoundError(_not_found_message(resource, failures, cache_note))


def _unpack(archive: Path, target: Path) -> None:
    """Unpack an archive so that its data folder ends up at ``target``."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.unpack_archive(archive, staging)
    inner = staging / target.name
    shutil.move(inner if inner.is_dir() else staging, target)
    shutil.rmtree(staging, ignore_errors=True)


def _not_found_message(resource: Resource, failures: list[str], cache_note: str | None = None) -> str:
    """Explain where a resource was looked for and how to provide it."""
    mirror = config.data_dir()
    mirror_text = f"{mirror / resource.relpath} (not there)" if mirror else (
        f"no mirror (${config.DATA_ENV} is not set)")
    cache_text = cache_note or f"{config.cache_dir() / resource.relpath} (not there)"
    return (
        f"{resource.name} not found. Looked in: the mirror: {mirror_text}; the cache: {cache_text}; "
        f"the official URL(s): {'; '.join(failures)}. Offline, set {config.DATA_ENV} to a copy of the "
        f"course's data mirror (a relative value is resolved against the repository root "
        f"{config.REPO_ROOT}, e.g. export {config.DATA_ENV}=../shared/data) or pass path=... to the loader."
    )


# ---------------------------------------------------------------- model files


def face_detector_files(kind: str = "caffe", path: str | Path | None = None) -> tuple[Path, ...]:
    """Files of OpenCV's face detectors.

    ``"caffe"``: (deploy.prototxt, res10 caffemodel) for ``cv2.dnn.readNetFromCaffe``;
    ``"tensorflow"``: (uint8 .pb, .pbtxt) for ``cv2.dnn.readNetFromTensorflow``;
    ``"yunet"``: (.onnx,) for ``cv2.FaceDetectorYN``. ``path`` is a folder holding them.
    """
    if kind not in DETECTOR_FILES:
        raise ValueError(f"kind={kind!r}: choose one of {', '.join(DETECTOR_FILES)}")
    return tuple(
        fetch(FACE_DETECTOR[name], Path(path) / name if path is not None else None)
        for name in DETECTOR_FILES[kind]
    )


def imagenet_weights(backbone: str, path: str | Path | None = None, fallback: bool = False) -> str | None:
    """The ``weights=`` argument for a ``keras.applications`` backbone without top.

    Returns a local weights file (mirror, cache or fresh download). When none can be
    had and ``fallback`` is true (quick mode), prints a notice and returns ``None``
    (random weights); otherwise the DatasetNotFoundError explains what to do.
    """
    if backbone not in IMAGENET_WEIGHTS:
        known = ", ".join(IMAGENET_WEIGHTS)
        raise ValueError(f"backbone={backbone!r}: ImageNet weights are known for {known}")
    try:
        return str(fetch(IMAGENET_WEIGHTS[backbone], path))
    except DatasetNotFoundError as error:
        if not fallback:
            raise
        print(f"Notice: no ImageNet weights for {backbone} ({error}). Using random weights.")
        return None


# ---------------------------------------------------------------- report


def all_resources() -> dict[str, Resource]:
    """Every resource the course uses, by a short display name."""
    resources = {f"mnist/{k}": r for k, r in MNIST.items()}
    resources |= {f"fashion-mnist/{k}": r for k, r in FASHION_MNIST.items()}
    resources |= {"att_faces": ATT_FACES, "lfw_funneled": LFW_FUNNELED}
    resources |= {f"lfw/{k}": r for k, r in LFW_PAIRS.items()}
    resources |= {f"face_detector/{k}": r for k, r in FACE_DETECTOR.items()}
    resources |= {f"imagenet/{k}": r for k, r in IMAGENET_WEIGHTS.items()}
    return resources


def data_report() -> list[tuple[str, str]]:
    """(resource, where it is found) for every resource, without downloading anything.

    Where is ``"mirror"``, ``"cache"`` or ``"missing"`` (downloaded on first use).
    """
    return [(label, locate(resource)[0]) for label, resource in all_resources().items()]
