"""torch.fx front end: trace a spiking model with concrete example shapes and build the float IR.

The tracer is torch.fx's meta tracer fed with an example tensor, so Python code that reads
shapes (``t, b, n, c = x.shape``) runs on concrete integers and every fx node carries the
shape and dtype of its example output (``node.meta["example"]``, a meta-device tensor: no
data). The example is propagated as a FakeTensor (shapes only: no arithmetic, no activation
memory); a model whose forward depends on tensor values, which fake tensors cannot
evaluate, is traced again on the real example. Either way the model's modules are left as
they were (state a forward stores, e.g. SpikingJelly's membrane ``v``, is restored).

Modules that have a handler (LIF neurons, attention cores, Conv2d, Linear, BatchNorm,
MaxPool2d, ...) are leaves: fx records one call and the handler maps it onto IR nodes; other
modules are traced through. Any call without a handler raises
``UnsupportedError("<module path>: <type> — not supported (supported: ...)")``.

Input convention: the model takes images ``[B, C, H, W]`` and repeats them over T itself
(direct encoding, ``x.unsqueeze(0).repeat(T, ...)``), or takes ``[T, B, ...]`` when
``time_major=True``. Tensors inside must be laid out ``[T, B, ...]`` or ``[T*B, ...]``.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from typing import Any

import torch
import torch.fx.experimental.meta_tracer
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode, unset_fake_temporarily
from torch.utils._pytree import tree_map_only

import spikeport.converters.handlers  # noqa: F401  (registers the handlers)
from spikeport.budget import require_T
from spikeport.converters.registry import (
    HANDLERS,
    Call,
    TensorValue,
    TraceContext,
    module_handler,
    supported_names,
)
from spikeport.errors import UnsupportedError
from spikeport.ir import Graph, Input


def _shape_only(t: torch.Tensor) -> torch.Tensor:
    """A meta-device tensor with `t`'s shape and dtype (no data, no fake-mode link)."""
    with unset_fake_temporarily():
        return torch.empty(tuple(t.shape), dtype=t.dtype, device="meta")


class _ConcreteTracer(torch.fx.experimental.meta_tracer.MetaTracer):
    """MetaTracer with example (fake or real) tensors as 'meta' values; handled modules are
    leaves. fx nodes keep only their output's shape, so intermediates are freed as soon as
    the model's code drops them."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if module_handler(m) is not None:
            return True
        return super().is_leaf_module(m, module_qualified_name)

    _in_leaf = False

    def call_module(self, m, forward, args, kwargs):  # type: ignore[override]
        if self._in_leaf:  # computing a leaf's example output: run its submodules plainly
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def create_proxy(
        self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None
    ):  # type: ignore[override]
        outer = self._in_leaf
        self._in_leaf = outer or kind == "call_module"
        try:
            rv = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        finally:
            self._in_leaf = outer
        value = getattr(rv, "_tensor_meta", None)
        if value is not None:
            rv.node.meta["example"] = tree_map_only(torch.Tensor, _shape_only, value)
        return rv


class _NeedsRealValues(Exception):
    """The fake-tensor trace failed (e.g. data-dependent control flow): retry on real data."""


@contextlib.contextmanager
def _module_state_restored(model: nn.Module):
    """Undo attribute changes a forward makes to `model`'s modules (one level into dicts,
    e.g. SpikingJelly's ``_memories``). Submodules fx registers while tracing are kept."""
    saved = [
        (m, {k: dict(v) if type(v) is dict else v for k, v in vars(m).items()})
        for m in model.modules()
    ]
    try:
        yield
    finally:
        for m, state in saved:
            modules = m._modules
            vars(m).clear()
            vars(m).update(state, _modules=modules)


def _trace_once(
    model: nn.Module, param: str, example: torch.Tensor, fake: bool
) -> tuple[torch.fx.Graph, nn.Module]:
    tracer = _ConcreteTracer()
    mode = FakeTensorMode(allow_non_fake_inputs=True) if fake else contextlib.nullcontext()
    with (
        _module_state_restored(model),
        torch.no_grad(),
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        try:
            with mode:
                value = mode.from_tensor(example) if fake else example
                graph = tracer.trace(model, meta_args={param: value})
        except UnsupportedError:
            raise
        except Exception as exc:  # torch.fx's own errors: make them one line
            if fake:
                raise _NeedsRealValues from exc
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UnsupportedError(f"{type(model).__name__}: cannot be traced: {msg}") from None
    failed = [w for w in caught if "Could not compute metadata" in str(w.message)]
    if failed:
        if fake:
            raise _NeedsRealValues
        raise UnsupportedError(f"{type(model).__name__}: tracing failed: {failed[0].message}")
    graph._tracer_extras = {}  # drop MetaTracer's reference to the example
    return graph, tracer.root


def trace(model: nn.Module, example: torch.Tensor, *, fake: bool = True) -> torch.fx.GraphModule:
    """torch.fx graph of `model` (eval mode) traced on `example`'s shape: propagated as a
    FakeTensor when `fake` (falling back to the real `example` when that fails), else on
    the real tensor. Each node's ``meta["example"]`` is a meta tensor of its output shape."""
    model.eval()
    params = list(inspect.signature(model.forward).parameters)
    if len(params) != 1:
        raise UnsupportedError(
            f"{type(model).__name__}.forward takes {len(params)} inputs; spikeport traces "
            "models with one input tensor"
        )
    try:
        graph, root = _trace_once(model, params[0], example, fake)
    except _NeedsRealValues:
        graph, root = _trace_once(model, params[0], example, False)
    return torch.fx.GraphModule(root, graph, type(model).__name__)


def to_ir(
    model: nn.Module,
    example: torch.Tensor,
    *,
    T: int | None = None,
    time_major: bool = False,
    name: str | None = None,
) -> Graph:
    """Trace `model` on `example` and build the float IR graph.

    T: timesteps (default ``model.T``); `example` is [B, ...] (direct encoding inside the
    model) or, with `time_major`, [T, B, ...]. The example batch size should differ from T
    and from every feature size so that the time/batch axes can be told apart (7 is used
    by :func:`spikeport.converters.pipeline.convert_model`).
    """
    T = int(T if T is not None else getattr(model, "T", 0))
    if T < 1:
        raise UnsupportedError(f"{type(model).__name__}: number of timesteps T unknown; pass T=")
    require_T(f"{type(model).__name__}: T", T)  # tracing unrolls T steps: bounded, not a hang
    gm = trace(model, example)
    batch = example.shape[1] if time_major else example.shape[0]
    ctx = TraceContext(Graph(name or type(model).__name__), T=T, batch=int(batch))
    ctx.meta.update({"T": T, "time_major": bool(time_major), "source": type(model).__name__})
    values: dict[str, Any] = {}
    output: Any = None
    modules = dict(gm.named_modules())
    for fx_node in gm.graph.nodes:
        if fx_node.op == "placeholder":
            lead = ("T", "B") if time_major else ("B",)
            shape = tuple(example.shape)
            rec = Input(ctx.unique(fx_node.name), shape=shape[len(lead) :], kind="float")
            ctx.add(rec, None)
            values[fx_node.name] = TensorValue(rec.name, lead, shape)
            continue
        if fx_node.op == "output":
            output = _resolve(fx_node.args[0], values)
            continue
        if fx_node.op == "get_attr":
            raise UnsupportedError(
                f"{fx_node.target}: direct use of a parameter or buffer in forward — not "
                "supported (wrap it in a module with a handler)"
            )
        module = modules.get(fx_node.target) if fx_node.op == "call_module" else None
        call = Call(
            path=str(fx_node.target) if module is not None else fx_node.name,
            kind=fx_node.op,
            target=fx_node.target,
            module=module,
            args=tuple(_resolve(a, values) for a in fx_node.args),
            kwargs={k: _resolve(v, values) for k, v in fx_node.kwargs.items()},
            out=fx_node.meta.get("example"),
        )
        values[fx_node.name] = _dispatch(ctx, call)
    graph = ctx.graph
    out = _output_value(output)
    graph.set_outputs([out.name])
    graph.meta.update(ctx.meta)
    graph.meta["output_lead"] = list(out.lead)
    return graph


def _dispatch(ctx: TraceContext, call: Call) -> Any:
    if call.kind == "call_module":
        handler = module_handler(call.module)
        kind = "module"
    elif call.kind == "call_method":
        handler = HANDLERS.get(f"Tensor.{call.target}")
        kind = "method"
    else:
        handler = HANDLERS.get(call.target)
        kind = "function"
    if handler is None:
        raise call.fail(f"not supported (supported {kind}s: {', '.join(supported_names(kind))})")
    return handler(ctx, call)


def _resolve(arg: Any, values: dict[str, Any]) -> Any:
    if isinstance(arg, torch.fx.Node):
        return values[arg.name]
    if isinstance(arg, tuple | list):
        return type(arg)(_resolve(a, values) for a in arg)
    if isinstance(arg, dict):
        return {k: _resolve(v, values) for k, v in arg.items()}
    return arg


def _output_value(output: Any) -> TensorValue:
    if isinstance(output, tuple | list) and output and isinstance(output[0], TensorValue):
        output = output[0]  # (logits, extras) models: the first element is the prediction
    if not isinstance(output, TensorValue):
        raise UnsupportedError(f"model output {output!r} is not a traced tensor")
    return output
