"""Users' data sets for every data-reading command (``--data SPEC``).

One loader per format, one registry (``spec.KINDS``): ``digits`` (bundled), ``cifar10:DIR``,
``cifar100:DIR``, ``imagefolder:DIR``, ``npz:FILE``, ``dvs-frames:DIR``, ``dvs-events:DIR``.
:func:`open_dataset` returns a lazy :class:`Dataset` (length, classes and sample shape known
up front; ``ds[i:j]`` views; numpy batches); ``data.json`` in an artifact records the
preprocessing convert calibrated with (``record``). Importing this package imports neither
torch nor Pillow.
"""

from spikeport.data.dataset import ArrayDataset, Dataset, model_layout
from spikeport.data.preprocessing import Preprocessing
from spikeport.data.record import read_record, write_record
from spikeport.data.registry import open_dataset, open_for_artifact
from spikeport.data.spec import KINDS, DataSpec, parse_spec

__all__ = [
    "ArrayDataset",
    "KINDS",
    "DataSpec",
    "Dataset",
    "Preprocessing",
    "model_layout",
    "open_dataset",
    "open_for_artifact",
    "parse_spec",
    "read_record",
    "write_record",
]
