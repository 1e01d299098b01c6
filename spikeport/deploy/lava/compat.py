"""Run lava-nc 0.10.0 / lava-dl 0.6.0 on Python 3.11 + numpy 2, without editing installed files.

Lava is archived upstream; its last releases declare Python < 3.11 and numpy < 2. Several things
break on this project's interpreter (details: ``docs/semantics.md``, "Lava on Python 3.11 /
numpy 2"), and :func:`ensure_lava` repairs each one at run time, in memory only:

(a) ``lava/magma/compiler/var_model.py`` declares dataclass fields whose default is a
    (mutable, unhashable) ``ByteEncoder()`` instance; Python 3.11 refuses those. We import that
    one module while ``dataclasses.dataclass`` turns such defaults into
    ``field(default_factory=...)`` (a deep copy per instance) for classes of that module only.
(b) ``ReshapePort.get_transform_func_fwd/bwd`` call ``np.reshape(x, newshape=...)``, a keyword
    numpy 2.4 removed; we replace both methods with positional-shape equivalents.
(c) netx ``Network.create_input`` calls ``int()`` on the input layer's shape-(1,) ``weight`` /
    ``bias`` arrays, which numpy 2 rejects; we hand it a view of the layer config in which
    one-element ``weight``/``bias`` arrays are 0-d.
(d) ``lava.lib.dl.slayer`` imports ``object_detection``, which needs torchvision (not a
    dependency of ours, and unused by netx). When torchvision is missing we register a
    placeholder for that sub-package whose attributes raise a clear error. We deliberately do
    *not* fake ``torchvision`` itself: other libraries probe for it with ``try: import``.
(e) The fixed-point Conv model keeps kernel_size/stride/padding/dilation/groups in int8 Vars
    and ``lava/proc/conv/utils.py`` mixes them with Python ints (``input_shape[0] +
    2 * padding[0]``, ``channels % groups``); numpy 2 (NEP 50) raises ``OverflowError`` once a
    size exceeds 127 (e.g. PilotNet's 200-pixel width). We wrap ``utils.conv`` so it receives
    Python ints.
(f) ``message_infrastructure/multiprocessing.py`` calls ``mp.set_start_method('fork')`` at
    import, which raises "context has already been set" when this process fixed the start
    method earlier (seen in ``spikeport demo``, which runs torch, the simulator and then Lava
    in one process). We import it once with that call a no-op when the method is already
    'fork'.

Lava's workers are ``fork``-ed (``message_infrastructure/multiprocessing.py``), so the patches
made in the parent are in force in every ProcessModel process.

This is the only module in spikeport that touches Lava internals. Importing it imports nothing
from Lava; only calling :func:`ensure_lava` (or entering :func:`surface_child_errors`) does.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import importlib
import importlib.util
import multiprocessing
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from spikeport.errors import LavaNotAvailableError

SUPPORTED_VERSIONS = {"lava-nc": "0.10.0", "lava-dl": "0.6.0"}
"""The releases these patches were written against (the last ones published)."""

_VAR_MODEL = "lava.magma.compiler.var_model"
_OBJECT_DETECTION = "lava.lib.dl.slayer.object_detection"
_LOCK = threading.Lock()
_applied: dict[str, bool] = {}


class LavaRunError(RuntimeError):
    """A Lava run failed inside a ProcessModel worker; the message carries the worker traceback."""


class _TorchvisionMissing(LavaNotAvailableError, AttributeError):
    """Raised on use of slayer's object-detection sub-package when torchvision is absent."""


def lava_available() -> bool:
    """True when lava-nc is importable (does not import it)."""
    try:
        return importlib.util.find_spec("lava.magma") is not None
    except ModuleNotFoundError:
        return False


def ensure_lava(*, netx: bool = True) -> None:
    """Make Lava (and, with ``netx=True``, lava-dl's netx) importable and runnable. Idempotent.

    Raises:
        LavaNotAvailableError: lava-nc (or lava-dl, when ``netx``) is not installed.
    """
    with _LOCK:
        if not lava_available():
            raise LavaNotAvailableError("lava-nc is not installed (run `make setup`)")
        _once("fork-start-method", _import_lava_multiprocessing_tolerating_start_method)
        _once("dataclass-defaults", _import_var_model_with_factory_defaults)
        _once("reshape-port", _patch_reshape_port)
        _once("conv-int8-geometry", _patch_conv_geometry)
        if netx:
            try:
                dl_found = importlib.util.find_spec("lava.lib.dl") is not None
            except ModuleNotFoundError:
                dl_found = False
            if not dl_found:
                raise LavaNotAvailableError("lava-dl is not installed (run `make setup`)")
            _once("slayer-torchvision", _stub_object_detection_without_torchvision)
            _once("netx-scalar-input", _patch_netx_create_input)


def applied_patches() -> tuple[str, ...]:
    """Names of the patches applied so far in this interpreter (for reports and tests)."""
    return tuple(name for name, done in _applied.items() if done)


def _once(name: str, apply: Callable[[], bool]) -> None:
    if name not in _applied:
        _applied[name] = apply()


# (f) ---------------------------------------------------------------------------------------
_LAVA_MP = "lava.magma.runtime.message_infrastructure.multiprocessing"


def _import_lava_multiprocessing_tolerating_start_method() -> bool:
    """Lava's ``message_infrastructure/multiprocessing.py`` calls ``mp.set_start_method('fork')``
    at import, which raises "context has already been set" once anything in this process (a
    torch or tqdm helper, a Pool) has fixed the start method. Import it once with that call
    made a no-op when the method is already 'fork' (Linux's default), so nothing changes."""
    if _LAVA_MP in sys.modules:
        return False
    current = multiprocessing.get_start_method(allow_none=True)
    if current is None:
        return False  # Lava's own call will succeed
    if current != "fork":
        raise LavaNotAvailableError(
            f"Lava needs the 'fork' multiprocessing start method, but this process uses {current!r}"
        )
    original = multiprocessing.set_start_method

    def set_start_method(method: str, force: bool = False) -> None:
        if method != multiprocessing.get_start_method():
            original(method, force)

    multiprocessing.set_start_method = set_start_method
    try:
        importlib.import_module(_LAVA_MP)
    finally:
        multiprocessing.set_start_method = original
    return True


# (a) ---------------------------------------------------------------------------------------


def _factory_defaults(cls: type) -> None:
    """Turn class-level defaults that are unhashable instances into ``default_factory`` fields."""
    for name in cls.__dict__.get("__annotations__", {}):
        default = cls.__dict__.get(name, dataclasses.MISSING)
        if default is dataclasses.MISSING or isinstance(default, dataclasses.Field):
            continue
        if type(default).__hash__ is None:
            factory = functools.partial(copy.deepcopy, default)
            setattr(cls, name, dataclasses.field(default_factory=factory))


def _import_var_model_with_factory_defaults() -> bool:
    if _VAR_MODEL in sys.modules:
        return False  # already imported (so it imported fine): nothing to repair
    original = dataclasses.dataclass

    def dataclass(cls: type | None = None, /, **kwargs: Any) -> Any:
        def wrap(c: type) -> type:
            if c.__module__ == _VAR_MODEL:
                _factory_defaults(c)
            return original(c, **kwargs)

        return wrap if cls is None else wrap(cls)

    dataclasses.dataclass = dataclass  # type: ignore[assignment]
    try:
        importlib.import_module(_VAR_MODEL)
    finally:
        dataclasses.dataclass = original
    return True


# (b) ---------------------------------------------------------------------------------------


def _patch_reshape_port() -> bool:
    from lava.magma.core.process.ports import ports

    def fwd(self: Any) -> Callable[[np.ndarray], np.ndarray]:
        return functools.partial(_reshape, shape=tuple(self.shape))

    def bwd(self: Any) -> Callable[[np.ndarray], np.ndarray]:
        return functools.partial(_reshape, shape=tuple(self.old_shape))

    ports.ReshapePort.get_transform_func_fwd = fwd
    ports.ReshapePort.get_transform_func_bwd = bwd
    return True


def _reshape(x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    return np.reshape(x, shape)


# (e) ---------------------------------------------------------------------------------------


def _patch_conv_geometry() -> bool:
    from lava.proc.conv import utils

    original = utils.conv

    @functools.wraps(original)
    def conv(
        input_: Any,
        weight: Any,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        groups: Any,
    ) -> Any:
        def pair(v: Any) -> tuple[int, ...]:
            return tuple(int(e) for e in np.asarray(v).reshape(-1))

        return original(
            input_,
            weight,
            pair(kernel_size),
            pair(stride),
            pair(padding),
            pair(dilation),
            int(np.asarray(groups).reshape(-1)[0]),
        )

    utils.conv = conv
    return True


# (c) ---------------------------------------------------------------------------------------


class _ScalarisedLayerConfig:
    """Read-only view of a netx layer config whose one-element ``weight``/``bias`` are 0-d."""

    _SCALAR_KEYS = ("weight", "bias")

    def __init__(self, config: Any) -> None:
        self._config = config

    def keys(self) -> Any:
        return self._config.keys()

    def __contains__(self, key: object) -> bool:
        return key in self._config.keys()

    def __getitem__(self, key: Any) -> Any:
        value = self._config[key]
        if key in self._SCALAR_KEYS and isinstance(value, np.ndarray) and value.size == 1:
            return value.reshape(())
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._config, name)


def _patch_netx_create_input() -> bool:
    from lava.lib.dl.netx import hdf5

    original = hdf5.Network.create_input  # a staticmethod, so a plain function here

    @functools.wraps(original)
    def create_input(layer_config: Any, *args: Any, **kwargs: Any) -> Any:
        return original(_ScalarisedLayerConfig(layer_config), *args, **kwargs)

    hdf5.Network.create_input = staticmethod(create_input)
    return True


# (d) ---------------------------------------------------------------------------------------


def _stub_object_detection_without_torchvision() -> bool:
    if _OBJECT_DETECTION in sys.modules:
        return False
    try:
        if importlib.util.find_spec("torchvision") is not None:
            return False
    except (ImportError, ValueError):
        pass
    placeholder = types.ModuleType(
        _OBJECT_DETECTION, "Placeholder installed by spikeport: torchvision is not installed."
    )

    def __getattr__(name: str) -> Any:
        raise _TorchvisionMissing(
            f"{_OBJECT_DETECTION}.{name} needs torchvision, which is not installed"
        )

    placeholder.__getattr__ = __getattr__  # type: ignore[attr-defined]
    sys.modules[_OBJECT_DETECTION] = placeholder
    return True


# Worker tracebacks ------------------------------------------------------------------------

_tracked_actors: list[Any] | None = None


@contextlib.contextmanager
def surface_child_errors() -> Iterator[None]:
    """Re-raise Lava's "N Exception(s) occurred" as :class:`LavaRunError` with worker tracebacks.

    Lava runs each ProcessModel in a forked worker; when one raises, the parent only says
    ``RuntimeError: 1 Exception(s) occurred. See output above`` and logs the traceback at
    INFO level. Inside this context the workers Lava starts are remembered, and such an error
    is re-raised with every worker's traceback in the message::

        with surface_child_errors():
            proc.run(condition=RunSteps(10), run_cfg=cfg)
    """
    global _tracked_actors
    ensure_lava(netx=False)
    from lava.magma.runtime.message_infrastructure import multiprocessing as lava_mp

    outer = _tracked_actors
    actors: list[Any] = []
    original = lava_mp.MultiProcessing.build_actor

    def build_actor(self: Any, *args: Any, **kwargs: Any) -> Any:
        actor = original(self, *args, **kwargs)
        if _tracked_actors is not None:
            _tracked_actors.append(actor)
        return actor

    _tracked_actors = actors
    lava_mp.MultiProcessing.build_actor = build_actor
    try:
        yield
    except RuntimeError as err:
        if "Exception(s) occurred" not in str(err):
            raise
        details = _worker_tracebacks(actors)
        if not details:
            raise
        raise LavaRunError(f"{err}\n\n" + "\n".join(details)) from err
    finally:
        lava_mp.MultiProcessing.build_actor = original
        _tracked_actors = outer


def _worker_tracebacks(actors: list[Any]) -> list[str]:
    out = []
    for actor in actors:
        try:
            info = actor.exception
        except (OSError, ValueError):  # pipe already closed: the runtime consumed it
            info = getattr(actor, "_exception", None)
        if info:
            _, tb = info
            out.append(f"--- Lava worker {getattr(actor, 'name', '?')} ---\n{tb}")
    return out
