"""Split a module's traced graph at a layer: the graph after the layer and the values it takes from before.

:func:`split_at` traces a module with ``torch.fx`` (as torchvision's feature extraction does), the
layer kept as one call, and divides the graph at the layer's node. The *downstream* graph holds
every node that depends on the layer's output. The values it uses from before the layer (a skip
connection across the layer, the module's own inputs) cross the cut: the *upstream* graph computes
them from the module's recorded arguments, once per capture. Shape queries (``x.shape[0]``) and
values computed from parameters alone are recomputed in the downstream graph, so that they follow
the batch it runs on. Modules that carry hooks stay single calls, so that their hooks run. Where
tracing fails, :func:`split_at` says so once and returns None (the caller reruns the whole module).
"""

from __future__ import annotations

import builtins
import operator
import sys
import warnings
from collections.abc import Iterable

import torch
from torch import fx, nn

_META_METHODS = frozenset({"size", "dim", "numel"})
"""Tensor methods that return metadata (recomputed after the cut from the tensor they query)."""

_META_ATTRIBUTES = frozenset({"shape", "dtype", "device", "ndim", "is_cuda"})
"""Tensor attributes that are metadata."""

_ARITHMETIC_MODULES = frozenset({"_operator", "operator", "builtins", "math"})
"""Modules of the functions that combine metadata (``h // patch``, ``shape[0]``)."""

_IN_PLACE_OPERATORS = frozenset(
    getattr(operator, name)
    for name in ("iadd iand ifloordiv ilshift imod imul imatmul ior ipow irshift isub itruediv ixor setitem".split())
)
"""Operators that change their first argument."""


class GraphSplit:
    """A module's traced graph divided at a layer; see :func:`split_at`.

    Call it as ``split(activation, context)``: ``activation`` is the layer's output (N, ...),
    ``context`` the values from before the layer (:meth:`context`, rows matching ``activation``),
    or None when :attr:`needs_context` is False. It returns the module's output.
    """

    def __init__(self, upstream: fx.GraphModule | None, downstream: fx.GraphModule):
        self._upstream = upstream
        self._downstream = downstream

    @property
    def needs_context(self) -> bool:
        """Whether the graph after the layer uses values computed before it (or the module's inputs)."""
        return self._upstream is not None

    def context(self, recorded: tuple[tuple, dict]) -> tuple[tuple, dict] | None:
        """The values that cross the cut, from the arguments the module was called with.

        Parameters
        ----------
        recorded : (tuple, dict)
            The module's positional and keyword arguments (those of the captured forward pass).

        Returns
        -------
        (tuple, dict) or None
            The crossing values in the order the downstream graph takes them (no keywords), computed
            without grad; None when :attr:`needs_context` is False.
        """
        if self._upstream is None:
            return None
        args, kwargs = recorded
        with torch.no_grad():
            return tuple(self._upstream(*args, **kwargs)), {}

    def __call__(self, activation: torch.Tensor, context: tuple[tuple, dict] | None = None):
        values = context[0] if context is not None else ()
        return self._downstream(activation, *values)


def split_at(module: nn.Module, layer: nn.Module, name: str, n_args: int | None = None) -> GraphSplit | None:
    """Trace ``module`` and divide its graph at ``layer``'s output.

    Parameters
    ----------
    module : torch.nn.Module
        The module to split (a model, or the innermost module whose forward is not a known chain).
    layer : torch.nn.Module
        A submodule of ``module``, called exactly once by its forward.
    name : str
        The layer's name, for the message.
    n_args : int, optional
        How many positional arguments ``module`` is always called with (the other parameters keep
        their defaults, which the graph after the layer then takes as constants); None: unknown.

    Returns
    -------
    GraphSplit or None
        None where ``torch.fx`` cannot trace ``module`` (a warning says so, once), where the traced
        graph does not call ``layer`` exactly once, or where ``module`` itself carries hooks.
    """
    if _hooked(module):
        return None
    attributes = set(module.__dict__)
    try:
        graph = _tracer(layer).trace(module)
        nodes = [n for n in graph.nodes if n.op == "call_module" and module.get_submodule(n.target) is layer]
        if len(nodes) != 1 or any(user.target is operator.getitem for user in nodes[0].users):
            return None  # not called once, or its output is a tuple (the layer path explains one tensor of it)
        return _divided(module, graph, nodes[0], n_args)
    except Exception as error:  # tracing runs the module's own Python code: any error means "not traceable"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        warnings.warn(
            f"torch.fx cannot split {type(module).__name__} ({type(error).__name__}: {reason[:200]}); "
            f"the layer path of {name!r} reruns the whole {type(module).__name__} at every step, which is slower",
            stacklevel=2,
        )
        return None
    finally:  # the tracer keeps tensor constants as attributes of the module it traces
        for attribute in set(module.__dict__) - attributes:
            delattr(module, attribute)


def trace_state(module: nn.Module) -> tuple[tuple[bool, bool], ...]:
    """What a trace of ``module`` depends on besides its code: per submodule, its training flag (a
    trace keeps the Python branches on it) and whether it carries hooks (kept as a single call)."""
    return tuple((m.training, _hooked(m)) for m in module.modules())


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks)


class _LayerTracer(fx.Tracer):
    """Keeps ``layer``, hooked modules, torch's own modules and timm's no-trace modules as single calls."""

    def __init__(self, layer: nn.Module, leaves: tuple[type, ...], functions: tuple):
        super().__init__(autowrap_functions=functions)
        self._layer = layer
        self._leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return (
            m is self._layer
            or _hooked(m)
            or isinstance(m, self._leaves)
            or super().is_leaf_module(m, module_qualified_name)
        )


def _tracer(layer: nn.Module) -> _LayerTracer:
    timm_layers = sys.modules.get("timm.layers")  # a timm model implies the import
    leaves = tuple(getattr(timm_layers, "get_notrace_modules", list)())
    functions = tuple(getattr(timm_layers, "get_notrace_functions", list)())
    return _LayerTracer(layer, leaves, functions)


def _divided(module: nn.Module, graph: fx.Graph, cut: fx.Node, n_args: int | None) -> GraphSplit:
    """The split of ``graph`` (traced from ``module``) at the node ``cut``."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    passed = len(placeholders) if n_args is None else n_args
    defaults = {node: node.args[0] for node in placeholders[passed:] if node.args}
    after = _dependents(graph, cut)
    recomputed = _recomputable(graph, after)
    kept, crossing = set(), set()
    stack = [*after, *(n for n in graph.nodes if n.op == "output")]
    while stack:
        node = stack.pop()
        for source in node.all_input_nodes:
            if source is cut or source in after or source in kept or source in crossing:
                continue
            if source in recomputed:
                kept.add(source)
                stack.append(source)
            else:
                crossing.add(source)
    downstream_nodes = kept | after | {n for n in graph.nodes if n.op == "output"}
    inputs = sorted(crossing - set(defaults), key=order.__getitem__)
    mutated = {n.args[0] for n in downstream_nodes if _in_place(n, module) and n.args}
    downstream = fx.Graph()
    env = {cut: downstream.placeholder("activation"), **defaults}
    for i, node in enumerate(inputs):
        value = downstream.placeholder(f"before_{i}")
        env[node] = downstream.call_method("clone", (value,)) if node in mutated else value
    _copy(downstream, env, (n for n in graph.nodes if n in downstream_nodes))
    upstream = _upstream_graph(module, graph, inputs, after) if inputs else None
    return GraphSplit(upstream, fx.GraphModule(module, downstream))


def _dependents(graph: fx.Graph, cut: fx.Node) -> set[fx.Node]:
    """The nodes that depend on ``cut`` (without it)."""
    reached = {cut}
    for node in graph.nodes:
        if any(source in reached for source in node.all_input_nodes):
            reached.add(node)
    reached.discard(cut)
    return {node for node in reached if node.op != "output"}


def _recomputable(graph: fx.Graph, after: set[fx.Node]) -> set[fx.Node]:
    """Nodes before the cut that are cheap and batch-safe to recompute after it: values that need
    no input (parameters, constants) and metadata of tensors (shapes) with arithmetic on it."""
    found: set[fx.Node] = set()
    for node in graph.nodes:
        if node in after or node.op in ("placeholder", "output"):
            continue
        inputs = node.all_input_nodes
        free = node.op == "get_attr" or all(source in found for source in inputs)
        if free or _metadata(node, found):
            found.add(node)
    return found


def _metadata(node: fx.Node, found: set[fx.Node]) -> bool:
    """Whether ``node`` queries a tensor's metadata, or combines recomputable values arithmetically."""
    if node.op == "call_method":
        return node.target in _META_METHODS
    if node.op != "call_function":
        return False
    if node.target is builtins.getattr:
        return len(node.args) > 1 and node.args[1] in _META_ATTRIBUTES
    inputs = node.all_input_nodes
    module_name = getattr(node.target, "__module__", None)
    return module_name in _ARITHMETIC_MODULES and bool(inputs) and all(source in found for source in inputs)


def _in_place(node: fx.Node, module: nn.Module) -> bool:
    """Whether ``node`` may change its first argument in place."""
    if node.op == "call_method":
        return isinstance(node.target, str) and node.target.endswith("_") and not node.target.endswith("__")
    if node.op == "call_function":
        name = getattr(node.target, "__name__", "")
        in_place_name = name.endswith("_") and not name.endswith("__")
        return node.target in _IN_PLACE_OPERATORS or node.kwargs.get("inplace") is True or in_place_name
    if node.op == "call_module":
        return getattr(module.get_submodule(str(node.target)), "inplace", False) is True
    return False


def _upstream_graph(module: nn.Module, graph: fx.Graph, crossing: list[fx.Node], after: set[fx.Node]) -> fx.GraphModule:
    """The part of ``graph`` that computes the ``crossing`` values from the module's inputs (with the
    in-place changes made to them before the cut)."""
    needed = {node for node in graph.nodes if node.op == "placeholder"}
    pending = list(crossing)
    while pending:
        while pending:
            node = pending.pop()
            if node not in needed:
                needed.add(node)
                pending.extend(node.all_input_nodes)
        pending = [
            node
            for node in graph.nodes
            if node not in needed
            and node not in after
            and node.op != "output"
            and _in_place(node, module)
            and node.args
            and node.args[0] in needed
        ]
    upstream = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    _copy(upstream, env, (n for n in graph.nodes if n in needed))
    upstream.output(tuple(env[node] for node in crossing))
    return fx.GraphModule(module, upstream)


def _copy(target: fx.Graph, env: dict[fx.Node, fx.Node], nodes: Iterable[fx.Node]) -> None:
    """Copy ``nodes`` (in graph order) into ``target``, their inputs looked up in (and added to) ``env``."""
    for node in nodes:
        env[node] = target.node_copy(node, env.__getitem__)
