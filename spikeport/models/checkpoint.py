"""Reading checkpoints safely and rebuilding models from them.

Two kinds of file:

* spikeport's own ``model.pt`` (written by :func:`save_model`): a plain dict
  ``{"format": "spikeport-model", "version": 1, "config": {...JSON...}, "state_dict": {...}}``.
  It rebuilds without user flags.
* official / timm-style ``.pth.tar`` (``state_dict`` or ``state_dict_ema`` or ``model``, an
  ``argparse.Namespace`` under ``args``, ``optimizer``, ``epoch``...), or a bare state dict. The
  architecture comes from the caller.

Files are always read with ``torch.load(weights_only=True)`` plus a narrow allowlist
(``argparse.Namespace`` and numpy scalars/dtypes, all plain data). A file that needs anything
else would run arbitrary code when unpickled; it is refused unless the caller passes
``trust=True`` (CLI ``--trust-checkpoint``).
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikeport import budget
from spikeport.errors import CheckpointError, first_line
from spikeport.models.registry import ModelConfig, build_model, check_arch, default_config
from spikeport.value_range import check_values

FORMAT = "spikeport-model"
FORMAT_VERSION = 1
STATE_DICT_KEYS = ("state_dict", "model", "module", "net")
MAX_LISTED = 5


def _allowlist() -> list[Any]:
    """Globals a timm checkpoint may hold that are plain data (no code runs on load)."""
    import numpy as np

    allowed: list[Any] = [argparse.Namespace, np.dtype]
    try:  # numpy scalars (e.g. a metric stored as np.float64) pickle through this function
        from numpy._core.multiarray import scalar
    except ImportError:  # pragma: no cover - numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    allowed.append(scalar)
    allowed.extend(type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool"))
    return allowed


def read_checkpoint(path: str | Path, *, trust: bool = False) -> Any:
    """The unpickled object in ``path``, loaded safely unless ``trust``."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    _require_unpacked_size(p)
    try:
        if trust:
            return torch.load(p, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_allowlist()):
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if trust:
            raise _unreadable(p, exc) from None
        found = re.search(r"(?:GLOBAL|global) ([\w.]+)", str(exc))
        what = f" (it contains {found.group(1)})" if found else ""
        raise CheckpointError(
            f"{p}: refusing to unpickle{what}: loading it would allow arbitrary code to run; "
            "if you trust this file, pass trust=True (CLI: --trust-checkpoint)"
        ) from None
    except Exception as exc:  # torch's zip reader and unpickler raise many types on damaged
        # files (RuntimeError, EOFError, UnicodeDecodeError, ...: found by fuzzing)
        raise _unreadable(p, exc) from None


def _unreadable(p: Path, exc: BaseException) -> CheckpointError:
    return CheckpointError(f"{p}: not a readable torch checkpoint ({first_line(exc)})")


def _require_unpacked_size(p: Path) -> None:
    """A zip checkpoint's records, as declared, must fit the memory budget (a compressed
    record can unpack to far more than the file's size). Legacy (non-zip) files hold their
    storages uncompressed: they are bounded by the file's size."""
    try:
        if not zipfile.is_zipfile(p):  # (is_zipfile itself raises on some damaged files)
            return
        with zipfile.ZipFile(p) as z:
            size = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise _unreadable(p, exc) from None
    budget.require(f"{p} (checkpoint records, unpacked)", size)


def extract_state_dict(obj: Any, source: str, use_ema: bool = False) -> dict[str, torch.Tensor]:
    """The model state dict inside a checkpoint object, ``module.`` prefixes stripped."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source}: expected a dict checkpoint, got {type(obj).__name__}")
    if use_ema:
        if "state_dict_ema" not in obj:
            raise CheckpointError(f"{source}: use_ema=True but there is no 'state_dict_ema'")
        sd = obj["state_dict_ema"]
    elif all(isinstance(v, torch.Tensor) for v in obj.values()) and obj:
        sd = obj
    else:
        key = next((k for k in STATE_DICT_KEYS if isinstance(obj.get(k), Mapping)), None)
        if key is None:
            raise CheckpointError(
                f"{source}: no state dict found (looked for {', '.join(STATE_DICT_KEYS)}; "
                f"top-level keys: {sorted(map(str, obj))[:8]})"
            )
        sd = obj[key]
    out: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{source}: state dict entry {k!r} is not a tensor")
        check_values(v, f"{source}: tensor {k!r}")
        out[str(k).removeprefix("module.")] = v
    return out


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - MAX_LISTED} more)" if len(keys) > MAX_LISTED else ""
    return ", ".join(keys[:MAX_LISTED]) + more


def load_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    fresh_attention: bool = False,
) -> list[str]:
    """Strict load; missing/unexpected keys or shape mismatches -> CheckpointError.

    ``fresh_attention``: parameters of the attention cores (e.g. ``block.0.attn.core.*``,
    ``stage3.0.attn.core.*``: every :class:`AttentionCore` submodule) that the file
    lacks keep their initial values (to swap a variant such as axnor into SSA-trained
    weights). Returns the keys left at their initial values.
    """
    config = getattr(model, "config", None)
    arch = getattr(config, "arch", type(model).__name__)
    dims = ""
    if isinstance(config, ModelConfig):
        dims = (
            f" (embed_dim={config.embed_dim}, depth={config.depth}, "
            f"num_heads={config.num_heads}, num_classes={config.num_classes})"
        )
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    cores = _core_prefixes(model)
    fresh = [k for k in missing if fresh_attention and k.startswith(cores)]
    missing = [k for k in missing if k not in fresh]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_listed(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_listed(unexpected)}")
        if any(k.startswith(cores) for k in missing):
            parts.append("to start attention-core parameters fresh, pass fresh_attention=True")
        raise CheckpointError(f"{source} does not match arch {arch!r}{dims}: " + "; ".join(parts))
    bad = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise CheckpointError(
            f"{source} does not match arch {arch!r}{dims}: "
            f"{len(bad)} shape mismatch(es): {_listed(bad)}"
        )
    model.load_state_dict({**{k: own[k] for k in fresh}, **state}, strict=True)
    return fresh


def _core_prefixes(model: nn.Module) -> tuple[str, ...]:
    """``"<path>."`` of every attention core in ``model``."""
    from spikeport.models.attention.core import AttentionCore

    return tuple(f"{name}." for name, m in model.named_modules() if isinstance(m, AttentionCore))


def save_model(model: nn.Module, path: str | Path, config: ModelConfig | None = None) -> Path:
    """Write spikeport's ``model.pt``: JSON-able config + tensors only (loads weights_only)."""
    config = config or getattr(model, "config", None)
    if not isinstance(config, ModelConfig):
        raise CheckpointError(f"{path}: model has no ModelConfig; pass config=")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": config.to_dict(),
        "state_dict": state,
    }
    torch.save(payload, p)
    return p


def is_spikeport_checkpoint(obj: Any) -> bool:
    return isinstance(obj, Mapping) and obj.get("format") == FORMAT


def from_checkpoint(
    path: str | Path,
    arch: str | None = None,
    *,
    trust: bool = False,
    use_ema: bool = False,
    fresh_attention: bool = False,
    **config: Any,
) -> nn.Module:
    """Rebuild a model from ``path`` and return it in eval mode.

    ``config``: :class:`~spikeport.models.registry.ModelConfig` fields (``embed_dim``,
    ``depth``, ``num_heads``, ``num_classes``, ``T``, ``attention``, ``img_size``,
    ``in_channels``, ``mlp_ratio``, ``attention_options``, ``pool_stages``, ``arch_options``);
    None means not given. spikeport ``model.pt`` files carry their config; any field given
    must agree with it. Other checkpoints are built as ``arch`` (default ``spikformer-cifar``)
    with the official dimensions of that arch (``registry.ARCH_DEFAULTS``: Spikformer CIFAR
    4-384/12 heads/10 classes; Spikformer ImageNet and SDT 8-512/8 heads/1000 classes;
    QKFormer CIFAR HST-4-384/8 heads/10 classes, ImageNet HST-10-384/1000 classes with
    embed_dim / 64 heads; SDT-V3 S at T 1; T 4 otherwise; attention ssa, sdsa for SDT)
    overridden by the fields given. ``use_ema`` loads ``state_dict_ema`` instead.
    ``fresh_attention=True`` lets attention-core parameters that the file lacks keep their
    initial values, e.g. ``attention='axnor'`` on an SSA checkpoint (a starts at a_init).
    """
    given = {k: v for k, v in {"arch": arch, **config}.items() if v is not None}
    obj = read_checkpoint(path, trust=trust)
    source = str(path)
    if is_spikeport_checkpoint(obj):
        if obj.get("version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{source}: unsupported spikeport format version {obj.get('version')}"
            )
        for key in ("config", "state_dict"):
            if not isinstance(obj.get(key), Mapping):
                raise CheckpointError(f"{source}: spikeport model file without a {key!r} mapping")
        config = ModelConfig.from_dict(dict(obj["config"]), source=source)
        stored = config.to_dict()
        conflicts = [
            f"{k}={v!r} (file has {stored[k]!r})"
            for k, v in given.items()
            if k in stored and _normalised(v) != _normalised(stored[k])
        ]
        unknown = sorted(k for k in given if k not in stored)
        if conflicts or unknown:
            detail = "; ".join(conflicts + [f"unknown option {k!r}" for k in unknown])
            raise CheckpointError(f"{source}: arguments disagree with the stored config: {detail}")
        state = extract_state_dict(obj["state_dict"], source)
    else:
        arch = given.pop("arch", "spikformer-cifar")
        check_arch(arch)
        try:
            config = default_config(arch, **given)
        except TypeError as exc:
            raise CheckpointError(f"from_checkpoint: bad argument ({exc})") from None
        state = extract_state_dict(obj, source, use_ema=use_ema)
    model = build_model(config)
    load_weights(model, state, source, fresh_attention=fresh_attention)
    return model.eval()


def _normalised(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v
