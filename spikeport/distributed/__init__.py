"""Distributed dataset evaluation on Dask: ``--workers N`` / ``--scheduler ADDRESS``.

``spikeport simulate``, ``spikeport energy`` (measured mode) and ``spikeport convert``'s
fidelity check can split their dataset into shards of consecutive sample indices and evaluate
the shards on a Dask ``distributed`` cluster: a local one started and shut down by the command
(``--workers N``: N worker processes, one thread each) or an existing one (``--scheduler``).

* Each worker process loads the artifact (and the dataset) once and keeps it
  (:mod:`~spikeport.distributed.cache`); a shard is an index range ``[lo, hi)``.
* A shard returns integer sums only (correct predictions, every operation counter per node
  and step, spike counts and neuron totals for firing rates, probe sums); the sums of all
  shards are added exactly (:mod:`~spikeport.distributed.shards`) and the floats (accuracy,
  rates, per-inference counts) are derived once from the totals by the same code the
  single-process run uses, so the output equals the single-process run's byte for byte
  except timings.
* A worker that dies mid-shard is replaced (the nanny restarts it) and the scheduler reruns
  its shards elsewhere; shards are pure functions of their index range, so the result does
  not change.

Nothing here imports dask until a command is asked to distribute
(:func:`~spikeport.distributed.cluster.connect`).
"""
