"""Retime a lowered graph for Lava's timing: balance branch latencies, gate the bias warm-up.

Timing contract (``docs/semantics.md``): Dense and Conv deliver one step after they receive;
Delay(d) d steps after; every other node in the same step. The layer-synchronous reference
(``int_eval.run_int``) ignores latency, so where branches of unequal latency join
(residual Add, the q/k/v inputs of attention) the plain graph would combine different
steps. This pass

1. computes each node's latency (the step its first data step reaches it),
2. inserts a ``Delay`` on every shorter branch of a join (named ``<src>.delay<d>``, shared by
   every consumer that needs the same delay of the same source),
3. turns every ``CubaLIF`` into a ``LIFReset`` (``reset_interval = T``, ``reset_offset =
   (latency + 1) % T`` in Lava's 1-based time): a neuron's u and v are zeroed on the step its
   data window starts. Before that step a neuron sees no data, only its bias (and upstream
   neurons' bias-driven spikes, which all arrive before the window); the reset discards
   exactly that warm-up. With period T the graph also streams samples back to back,
4. records a :class:`spikeport.ir.timing.Timing` in ``graph.meta["timing"]``.

Then the retimed graph run for T + L steps under the contract gives, at every node X and
step t < T of a sample, at step ``latency[X] + t`` what the reference gives at t; the
readout's v after step ``L + T - 1`` is the reference's final v. :func:`layer_synchronous`
undoes the pass (for the reference evaluation).
"""

from __future__ import annotations

from spikeport.converters.passes.manager import Pass, PassManager
from spikeport.errors import SpikeportError, UnsupportedError
from spikeport.ir import Delay, Graph
from spikeport.ir.int_nodes import MAX_DELAY
from spikeport.ir.timing import META_KEY, SYNAPSES, Timing
from spikeport.ir.timing import node_latency as timing_latency

UNRESETTABLE = ("Delta", "SigmaDelta", "Sigma")
"""Stateful nodes without a Lava reset: their warm-up could not be discarded."""


def node_latency(graph: Graph, name: str) -> int:
    """Steps node `name` adds between receiving and sending (``ir.timing.node_latency``);
    a synapse with per-synapse delays is refused."""
    rec = graph.node(name)
    if type(rec).__name__ in SYNAPSES and getattr(rec, "delay", None) is not None:
        raise UnsupportedError(f"{name} (Dense): per-synapse delays cannot be retimed")
    return timing_latency(rec)


class Retime(Pass):
    name = "retime"
    description = (
        "insert Delay nodes where branches of unequal Lava latency join; LIFReset at each "
        "neuron's data window (bias warm-up); graph.meta['timing']"
    )

    def run(self, graph: Graph) -> int:
        if META_KEY in graph.meta:
            return 0
        if "T" not in graph.meta:
            raise SpikeportError(f"graph {graph.name}: meta has no 'T' (timesteps) to retime for")
        steps_per_sample = int(graph.meta["T"])
        for name in graph.topological_order():
            kind = type(graph.node(name)).__name__
            if kind in UNRESETTABLE:
                raise UnsupportedError(f"{name} ({kind}): no Lava reset to gate its warm-up")
            if getattr(graph.node(name), "level", "int") == "float":
                raise UnsupportedError(f"{name} ({kind}): retime needs a quantised graph")
        arrive: dict[str, int] = {}  # step a node's first data step leaves it
        start: dict[str, int] = {}  # step a node's first data step reaches it
        shared: dict[tuple[str, int], str] = {}
        delays: list[str] = []
        for name in graph.topological_order():
            wiring = graph.inputs_of(name)
            target = max((arrive[src] for src in wiring.values()), default=0)
            for port, src in wiring.items():
                gap = target - arrive[src]
                if gap > 0:
                    self._delay(graph, src, name, port, gap, shared, delays, arrive)
            start[name] = target
            arrive[name] = target + node_latency(graph, name)
        for d in delays:  # inserted after the topological walk began
            start.setdefault(d, arrive[graph.inputs_of(d)["in"]])
        resets = []
        for name in graph.topological_order():
            rec = graph.node(name)
            if type(rec).__name__ != "CubaLIF":
                continue
            if rec.reset_interval is not None:
                raise UnsupportedError(
                    f"{name} (CubaLIF): already a LIFReset (interval {rec.reset_interval})"
                )
            graph.replace(
                rec.replace(
                    reset_interval=steps_per_sample,
                    reset_offset=(start[name] + 1) % steps_per_sample,
                )
            )
            resets.append(name)
        readout = graph.meta.get("readout")
        latency = max(start[o] for o in graph.outputs) if graph.outputs else 0
        if readout is not None:
            latency = max(latency, start[readout])
        timing = Timing(
            T=steps_per_sample,
            latency=latency,
            node_latency={n: start[n] for n in graph.topological_order()},
            readout=readout,
            reset_neurons=tuple(resets),
            delays=tuple(delays),
        )
        graph.meta[META_KEY] = timing.to_meta()
        return len(delays) + len(resets)

    @staticmethod
    def _delay(
        graph: Graph,
        src: str,
        dst: str,
        port: str,
        gap: int,
        shared: dict[tuple[str, int], str],
        delays: list[str],
        arrive: dict[str, int],
    ) -> None:
        key = (src, gap)
        if key not in shared:
            prev, left = src, gap
            while left > 0:  # a chain when the gap exceeds one Delay's range
                step = min(left, MAX_DELAY)
                left -= step
                name = f"{src}.delay{gap}" + (f"_{len(delays)}" if left else "")
                while name in graph:
                    name += "_"
                graph.add(Delay(name, steps=step), prev)
                arrive[name] = arrive[prev] + step
                delays.append(name)
                prev = name
            shared[key] = prev
        _rewire(graph, src, dst, port, shared[key])


def _rewire(graph: Graph, src: str, dst: str, port: str, new_src: str) -> None:
    """Feed `dst`'s `port` from `new_src` instead of `src`."""
    ports = tuple(p for p in graph.nx.edges[src, dst]["ports"] if p != port)
    if ports:
        graph.nx.edges[src, dst]["ports"] = ports
    else:
        graph.nx.remove_edge(src, dst)
    graph.connect(new_src, dst, port)


def layer_synchronous(graph: Graph) -> Graph:
    """A copy of a retimed graph with the pass undone: its Delay nodes bypassed and removed,
    its LIFReset neurons plain LIFs again, no timing record (what ``run_int`` evaluates).
    A graph that was not retimed is returned as a copy."""
    g = graph.copy()
    timing = Timing.from_meta(g.meta)
    if timing is None:
        return g
    for d in reversed(timing.delays):
        src = g.inputs_of(d)["in"]
        uses = [(dst, port) for dst in g.successors(d) for port in g.nx.edges[d, dst]["ports"]]
        g.remove(d)
        for dst, port in uses:
            g.connect(src, dst, port)
    for name in timing.reset_neurons:
        g.replace(g.node(name).replace(reset_interval=None, reset_offset=0))
    del g.meta[META_KEY]
    if g.meta.get("passes") and g.meta["passes"][-1] == Retime.name:
        g.meta["passes"] = g.meta["passes"][:-1]
        if not g.meta["passes"]:
            del g.meta["passes"]
    return g


def retimed(graph: Graph) -> Graph:
    """`graph` if it carries a timing record, else its retimed copy (what the simulator's
    classification and the Lava backend run)."""
    if META_KEY in graph.meta:
        return graph
    return PassManager([Retime()]).run(graph)
