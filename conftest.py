"""Test-wide settings: the test suite (unit tests and notebooks) runs in quick mode."""

import os

# Read by pyimagesearch.config.setup() in every notebook; the kernels that nbval
# starts inherit this process's environment.
os.environ.setdefault("SIAMESE_QUICK", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
