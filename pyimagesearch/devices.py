"""What the machine offers: versions, compute devices, a matrix-product benchmark."""

from __future__ import annotations

import os
import platform
import time

import keras


def versions() -> dict[str, str]:
    """Versions of Python and the course's main libraries, with the Keras backend."""
    import cv2
    import numpy as np

    found = {"Python": platform.python_version(), "Keras": keras.__version__,
             "Keras backend": keras.backend.backend(), "NumPy": np.__version__, "OpenCV": cv2.__version__}
    try:
        import tensorflow as tf

        found["TensorFlow"] = tf.__version__
    except ImportError:
        found["TensorFlow"] = "not installed"
    return found


def list_devices() -> list[str]:
    """Names of the devices the Keras backend can compute on, e.g. ``/device:CPU:0``."""
    if keras.backend.backend() == "jax":
        import jax

        return [f"{d.platform}:{d.id}" for d in jax.devices()]
    import tensorflow as tf

    return [f"/device:{d.device_type}:{d.name.rsplit(':', 1)[-1]}" for d in tf.config.list_logical_devices()]


def gpu_names() -> list[str]:
    """The GPUs visible to the backend (empty on a CPU-only machine)."""
    return [d for d in list_devices() if "GPU" in d.upper() or "CUDA" in d.upper()]


def time_matmul(device: str, size: int = 2048, repeats: int = 5) -> float:
    """Best-of-``repeats`` speed of a ``size`` x ``size`` float32 matrix product, in GFLOP/s."""
    if keras.backend.backend() == "jax":
        import jax
        import jax.numpy as jnp

        target = next(d for d in jax.devices() if f"{d.platform}:{d.id}" == device)
        a = jax.device_put(jnp.ones((size, size), jnp.float32), target)
        run = jax.jit(lambda x: x @ x)
        run(a).block_until_ready()
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(a).block_until_ready()
            timings.append(time.perf_counter() - start)
    else:
        import tensorflow as tf

        with tf.device(device):
            a = tf.random.uniform((size, size))
            tf.matmul(a, a).numpy()  # warm-up
            timings = []
            for _ in range(repeats):
                start = time.perf_counter()
                tf.matmul(a, a).numpy()
                timings.append(time.perf_counter() - start)
    return 2 * size**3 / min(timings) / 1e9


def machine_description() -> str:
    """One line naming the machine, for results tables."""
    gpus = gpu_names()
    accelerator = f"{len(gpus)} GPU(s)" if gpus else "no GPU"
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, {accelerator}, "
            f"Keras {keras.__version__} ({keras.backend.backend()})")
