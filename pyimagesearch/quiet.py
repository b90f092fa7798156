"""Command-line tools print only their own lines: TensorFlow's native start-up logging kept off stderr.

TensorFlow 2.21 writes its C++ start-up lines (absl's "All log messages before absl::InitializeLog()",
oneDNN's "custom operations are on", ``cpu_feature_guard``'s list of CPU instructions) straight to file
descriptor 2 while it is imported, whatever ``TF_CPP_MIN_LOG_LEVEL`` says on CPUs where oneDNN is on
(AVX-512, AMX). The tools therefore check their inputs first and import Keras through
:func:`import_keras`, which silences that descriptor for the import only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 (what C and C++ libraries write) to the null device inside the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def import_keras():
    """Keras with its backend imported, TensorFlow's start-up lines silenced (later logs: errors only)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_silenced():
        import keras  # imports its backend (TensorFlow) too
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # e.g. no "triggered tf.function retracing" warnings
    return keras
