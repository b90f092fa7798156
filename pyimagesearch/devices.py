"""What the machine offers: versions, compute devices, a matrix-product benchmark.

Devices are named the way ``keras.device`` takes them, the same for every backend:
``"cpu:0"``, ``"gpu:0"``, ``"gpu:1"``, ... (``"tpu:0"`` under JAX, ``"mps:0"`` under PyTorch on a Mac).
"""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata

import keras

# The Keras backends this module knows, with the library each one needs and its distributions.
BACKENDS = {"tensorflow": ("TensorFlow", ("tensorflow", "tensorflow-cpu")),
            "jax": ("JAX", ("jax",)),
            "torch": ("PyTorch", ("torch",))}


def backend() -> str:
    """The Keras backend's name, or a plain error for one that this module does not know."""
    name = keras.backend.backend()
    if name not in BACKENDS:
        raise ValueError(f"Keras backend {name!r} is not supported here; set KERAS_BACKEND to one of "
                         f"{', '.join(BACKENDS)} before importing Keras")
    return name


def installed_version(distributions: tuple[str, ...]) -> str:
    """The version of the first of ``distributions`` that is installed, or "not installed"."""
    for distribution in distributions:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def versions() -> dict[str, str]:
    """Versions of Python, Keras (with its backend), NumPy, OpenCV and each backend library."""
    import cv2
    import numpy as np

    found = {"Python": platform.python_version(), "Keras": keras.__version__,
             "Keras backend": keras.backend.backend(), "NumPy": np.__version__, "OpenCV": cv2.__version__}
    for library, distributions in BACKENDS.values():
        found[library] = installed_version(distributions)
    return found


def list_devices() -> list[str]:
    """The devices the Keras backend can compute on, named as ``keras.device`` takes them."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        return [f"{d.device_type.lower()}:{d.name.rsplit(':', 1)[-1]}"
                for d in tf.config.list_logical_devices()]
    if name == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    import torch  # name == "torch"

    found = ["cpu:0"] + [f"gpu:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps:0")
    return found


def gpu_names() -> list[str]:
    """The GPUs visible to the backend (empty on a CPU-only machine)."""
    return [d for d in list_devices() if d.startswith("gpu")]


def time_matmul(device: str, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` speed of a ``size`` x ``size`` float32 matrix product on ``device``, in GFLOP/s."""
    with keras.device(device):
        a = keras.random.uniform((size, size), seed=0)
        timings = []
        for _ in range(repeats + 1):  # the first run warms up and is not counted
            start = time.perf_counter()
            # summing to one number and copying it to NumPy waits until the product is done
            keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, a)))
            timings.append(time.perf_counter() - start)
    return 2 * size**3 / min(timings[1:]) / 1e9


def machine_description() -> str:
    """One line naming the machine, for results tables."""
    gpus = gpu_names()
    accelerator = f"{len(gpus)} GPU(s)" if gpus else "no GPU"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, {accelerator}, "
            f"Keras {keras.__version__} ({keras.backend.backend()})")
