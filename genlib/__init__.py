"""genlib — conditional generative models (CVAE, CGAN, StyleGAN) on Kuzushiji-49 and MNIST.

Importing genlib has no side effects: no downloads, no argv parsing, no font rendering.
The public entry points live in the submodules:

- :mod:`genlib.data` — datasets (Kuzushiji-49, KMNIST, MNIST, the embedded Kana-49 stand-in),
  the K49 report's preprocessing (style labels, splits) and an in-memory batch iterator.
- :mod:`genlib.training` — the training loop every model family shares.
- :mod:`genlib.checkpoint` — safe (pickle-free) checkpoints that rebuild a model and resume training.
- :mod:`genlib.models` — one module per model family.
"""

__version__ = "0.1.0"
