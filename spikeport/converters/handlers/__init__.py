"""Front-end handlers, one module per family; importing this package registers them all."""

from spikeport.converters.handlers import (  # noqa: F401
    arith,
    attention,
    integer,
    layout,
    neuron,
    norm,
    pool,
    synapse,
)
