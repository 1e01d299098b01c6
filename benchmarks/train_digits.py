"""Digits training budget: every attention variant must reach >= 95 % test accuracy in under
120 s on the 2-core machine (issue 2). Prints accuracy, seconds and seconds/budget per variant.

Run: .venv/bin/python benchmarks/train_digits.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import record  # noqa: E402

from spikeport.models.attention import ATTENTION_TYPES  # noqa: E402
from spikeport.models.digits import load_digits_split  # noqa: E402
from spikeport.models.train import TrainSettings, digits_config, train_digits  # noqa: E402

BUDGET_S = 120.0


def main() -> int:
    split = load_digits_split(seed=0)
    print(f"{'attention':<10} {'test acc':>9} {'seconds':>8} {'s/budget':>9}")
    ok = True
    for name in ATTENTION_TYPES:
        _, m = train_digits(
            digits_config(name), TrainSettings(threads=2), data=split, progress=False
        )
        ratio = m["train_seconds"] / BUDGET_S
        met = m["test_accuracy"] >= 0.95 and ratio < 1.0
        ok &= met
        print(f"{name:<10} {m['test_accuracy']:>9.2%} {m['train_seconds']:>8.1f} {ratio:>9.2f}")
        record(
            f"train_digits_{name}",
            ratio=ratio,
            target="< 1.0 (120 s budget), acc >= 95 %",
            met=met,
            test_accuracy=m["test_accuracy"],
            seconds=m["train_seconds"],
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
