"""NNI adapters of the search side (see ``tuner/ga_tuner.py``)."""
