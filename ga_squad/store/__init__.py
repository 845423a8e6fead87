"""The bookkeeping of a running search on shared storage.

The journal (what happened, in order), the registry and resume (the population rebuilt from it),
the checkpoint store and its retention, the experiment lock, ownership of files by their writer,
claims, the storage layout, the tuner-to-trial contract, the engine that joins the algorithm of
``ga_squad.search`` to all of these, and NNI's tuner protocol without NNI. No TensorFlow, no NNI.
"""
