"""The simulator's executors, one per IR node type: :data:`EXECUTORS` once the modules
listed here have registered theirs (``base.register_executor``).

A new node type's executor goes into the module of its family, or into a new module added
to this list; ``docs/extending.md`` says how.
"""

from spikeport.hw_models.sim.base import EXECUTORS
from spikeport.hw_models.sim.executors import arith, attention, integer, layout, neuron, synapse

__all__ = ["EXECUTORS", "arith", "attention", "integer", "layout", "neuron", "synapse"]
