"""Helper package for the course "Siamese Networks with Keras".

The notebooks import what they need from the submodules, e.g.
``from pyimagesearch import config, datasets``. Importing the package itself is
cheap: nothing here imports Keras or TensorFlow.
"""

__version__ = "0.1.0"
