"""``data.json``: the data an artifact was converted with, beside graph.json / tensors.h5.

``spikeport convert`` writes it; ``simulate``, ``energy`` and ``lava`` read it so that they
apply the same preprocessing (and default to the same data) as the calibration. Fields:
``format`` ("spikeport-data"), ``version``, ``spec`` (the ``--data`` value), ``layout``,
``preprocessing`` (:class:`~spikeport.data.preprocessing.Preprocessing`), ``sample_shape``,
``classes``, and what was read for ``calibration`` and ``evaluation`` (split, samples).
An artifact without the file (older digits artifacts) keeps today's digits behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spikeport.data.dataset import Dataset
from spikeport.data.preprocessing import Preprocessing
from spikeport.errors import DataError

FILE = "data.json"
FORMAT = "spikeport-data"
VERSION = 1


def write_record(out_dir: str | Path, ds: Dataset, spec: str, **used: Any) -> Path:
    """Write ``out_dir/data.json`` for dataset ``ds`` opened from ``spec``; ``used``: e.g.
    ``calibration={"split": "train", "samples": 2048}``."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "spec": spec,
        "layout": ds.layout,
        "preprocessing": ds.preprocessing.to_dict(),
        "sample_shape": list(ds.sample_shape),
        "classes": list(ds.classes),
        **used,
    }
    path = Path(out_dir) / FILE
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def read_record(artifact: str | Path) -> tuple[str, Preprocessing] | None:
    """(spec, preprocessing) from ``artifact/data.json``, or None when there is none."""
    path = Path(artifact) / FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT or doc.get("version") != VERSION:
            raise DataError(f"{path}: not a spikeport data record (format/version)")
        return str(doc["spec"]), Preprocessing.from_dict(dict(doc["preprocessing"]), str(path))
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        # ValueError: JSONDecodeError, UnicodeDecodeError, out-of-range values
        raise DataError(f"{path}: unreadable data record ({type(exc).__name__}: {exc})") from None
