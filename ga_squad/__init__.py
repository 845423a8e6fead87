"""ga-squad: evolutionary architecture search for SQuAD readers with weight sharing.

The package is split so that the search side (graph encoding, mutations,
evolution, dispatch, journal) imports neither NNI nor TensorFlow; only the
trial-side modules (model, checkpoint, training) load TensorFlow, and only the
thin adapters in ``tuner/`` and ``trial/`` import NNI.
"""

__version__ = "0.1.0"
