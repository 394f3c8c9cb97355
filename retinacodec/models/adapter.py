"""Adapt any ``torch.nn.Module``: named layers, a layer's output, and the network from a layer on.

Contributions need two things of a network: the output of one hidden layer for a batch of inputs
(the *upstream* part), and the model output when that layer's output is replaced by a given tensor
(the *downstream* part, run once per integration step). :func:`adapt` provides both with forward
hooks, for any module.

Where a module's forward is a known chain of its children (``nn.Sequential``, torchvision's ResNet,
EfficientNet and VisionTransformer with its Encoder, and the retina CNN), the downstream part runs
only the children after the layer, so each step costs only the downstream computation. Inside a
module whose forward is not known (a residual block, a timm or custom model) the downstream part
runs that enclosing module's ``torch.fx`` graph from the layer on
(:mod:`~retinacodec.models.graph_split`), with the values it needs from before the layer (a skip
connection, the module's inputs) recorded by the capture, then the chain after it. Where tracing
fails (a warning says so) it reruns the enclosing module, from its recorded input, with the layer's
output replaced; at worst (an untraceable model) the whole network is rerun from the input at every
step.

The model may return a tensor, a tuple, or a ``ModelOutput``-like object: ``adapt(model, output=...)``
says which tensor targets read (by default the tensor itself, its ``.logits``, or the first tensor
of a tuple); ``adapt(model, forward=function)`` runs a forward function of the module instead of
the module itself. A layer that outputs a tuple (an attention layer) stands for its first tensor.
"""

from __future__ import annotations

import copy
import difflib
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import RetinaCodecError
from .graph_split import GraphSplit, split_at, trace_state
from .outputs import OutputSelector, check_selector, layer_tensor, select_output, with_layer_tensor

Step = str | Callable[[torch.Tensor], torch.Tensor]
"""One step of a chain: the name of a child module, or a function applied between children."""

Context = tuple[tuple, dict]
"""The positional and keyword arguments a module was called with."""

NON_NEGATIVE_NONLINEARITIES = ("ReLU", "ReLU6", "Sigmoid", "Softplus", "Hardsigmoid", "Softmax")
"""Module classes whose output is never negative."""
SIGNED_NONLINEARITIES = ("GELU", "SiLU", "Hardswish", "Mish", "ELU", "CELU", "SELU", "LeakyReLU", "PReLU", "Tanh")
"""Module classes that are nonlinearities with outputs of both signs."""
MEAN_OFFSET_TOLERANCE = 0.1
"""A signed layer whose channel means are below this fraction of its RMS counts as centred: zero
is near each channel's mean, and zeroing a channel is close to silencing it."""


class _Stop(Exception):
    """Raised by a capture hook to skip the rest of a forward pass."""


def _flatten(x: torch.Tensor) -> torch.Tensor:
    return torch.flatten(x, 1)


def _class_token(x: torch.Tensor) -> torch.Tensor:
    return x[:, 0]


def _loaded_class(module_name: str, class_name: str) -> type | None:
    """A class from an already imported module (a model of that class implies the import)."""
    return getattr(sys.modules.get(module_name), class_name, None)


def _chain(module: nn.Module) -> list[Step] | None:
    """The forward pass of ``module`` as a list of steps, when it is known; else None."""
    kind = type(module)
    if kind.forward is nn.Sequential.forward:
        return [name for name, child in module.named_children()]
    if kind is _loaded_class("torchvision.models.resnet", "ResNet"):
        return ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", _flatten, "fc"]
    if kind is _loaded_class("torchvision.models.efficientnet", "EfficientNet"):
        return ["features", "avgpool", _flatten, "classifier"]
    if kind is _loaded_class("torchvision.models.vision_transformer", "VisionTransformer"):
        vit: Any = module  # a torchvision VisionTransformer: torchvision ships no type hints

        def embed(x: torch.Tensor) -> torch.Tensor:
            tokens = vit._process_input(x)
            return torch.cat([vit.class_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)

        return [embed, "encoder", _class_token, "heads"]
    if kind is _loaded_class("torchvision.models.vision_transformer", "Encoder"):
        encoder: Any = module  # a torchvision Encoder: torchvision ships no type hints
        return [lambda x: x + encoder.pos_embedding, "dropout", "layers", "ln"]
    retina_cnn = _loaded_class("retinacodec.models.retina_cnn", "RetinaCNN")
    if kind is retina_cnn:
        return ["bipolar", "amacrine", "ganglion"]
    return None


@dataclass
class Capture:
    """What one forward pass recorded.

    Attributes
    ----------
    activation : torch.Tensor
        The layer's output, shape (N, ...).
    output : torch.Tensor or None
        The model's output, or None when the pass stopped at the layer.
    context : Context or None
        The arguments of the module the downstream part reruns, or the values its traced graph takes
        from before the layer (computed on first read); None when it needs none.
    """

    activation: torch.Tensor
    output: torch.Tensor | None
    _context: Context | None
    _prepare: Callable[[Context], Context | None] | None = field(default=None, repr=False)

    @property
    def context(self) -> Context | None:
        if self._prepare is not None and self._context is not None:
            self._context, self._prepare = self._prepare(self._context), None
        return self._context


class Downstream:
    """The network from a layer's output to the model output.

    Call it as ``downstream(activation, context)``: ``activation`` replaces the layer's output,
    ``context`` (from :attr:`Capture.context`, rows matching ``activation``) holds the recorded
    input of the enclosing module that must be rerun, or the values its traced graph takes from
    before the layer, or None when :attr:`needs_context` is False. ``output``, if given, picks the
    tensor that targets read from what the last step returns.
    """

    def __init__(
        self,
        layer: nn.Module,
        entry: Callable | None,
        tail: list[Callable],
        output: Callable[[Any], torch.Tensor] | None = None,
        split: GraphSplit | None = None,
    ):
        self._layer = layer
        self._entry = entry
        self._tail = tail
        self._output = output
        self._split = split

    @property
    def needs_context(self) -> bool:
        """False when only the modules after the layer run, without values from before it: the layer
        is a cut of a known chain, or of a traced graph that no skip connection crosses."""
        return self._entry is not None and (self._split is None or self._split.needs_context)

    @property
    def steps(self) -> list[Callable]:
        """The modules (and functions) run after the layer, in order, the traced enclosing module's
        graph after the layer first where no value crosses the layer; after the rerun enclosing
        module when :attr:`needs_context` is True."""
        return list(self._tail) if self.needs_context or self._split is None else [self._split, *self._tail]

    def __call__(self, activation: torch.Tensor, context: Context | None = None) -> torch.Tensor:
        hidden = activation.clone()  # modules after the layer may work in place (ReLU(inplace=True))
        if self._entry is not None:
            if context is None and self.needs_context:
                raise RetinaCodecError(
                    "this downstream part reruns its enclosing module and needs its recorded input; "
                    "expected the context of the capture (Capture.context), got None"
                )
            if self._split is not None:
                hidden = self._split(hidden, context)
            else:
                assert context is not None  # without a split, the rerun needs its context (refused above)
                args, kwargs = context
                with _replaced_output(self._layer, hidden):
                    hidden = self._entry(*args, **kwargs)
        for step in self._tail:
            hidden = step(hidden)
        return hidden if self._output is None else self._output(hidden)


@contextmanager
def _replaced_output(layer: nn.Module, replacement: torch.Tensor) -> Iterator[None]:
    calls = []

    def hook(module, inputs, output):
        calls.append(1)
        return with_layer_tensor(output, layer_tensor(output)[0], replacement)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
    if len(calls) != 1:
        raise RetinaCodecError(
            f"the layer ran {len(calls)} times while rerunning its enclosing module; expected exactly once"
        )


def map_context(context: Context, function: Callable[[torch.Tensor], torch.Tensor]) -> Context:
    """Apply ``function`` to every tensor among the recorded arguments ``context``."""

    def apply(value):
        return function(value) if isinstance(value, torch.Tensor) else value

    args, kwargs = context
    return tuple(apply(v) for v in args), {k: apply(v) for k, v in kwargs.items()}


def select_rows(context: Context, index: torch.Tensor, n_inputs: int) -> Context:
    """Pick rows ``index`` of every tensor argument in ``context`` whose first dim has size ``n_inputs``."""
    return map_context(context, lambda t: t.index_select(0, index) if t.ndim and t.shape[0] == n_inputs else t)


@dataclass(frozen=True)
class InterventionPoint:
    """What a layer's output is, as an intervention point: see :meth:`AdaptedModel.intervention_point`.

    Attributes
    ----------
    layer : str
        The layer as named (alias or dotted name).
    module : str
        Its dotted module name.
    last_op : str
        Class name of the innermost module whose output is the layer's output (the layer itself for
        a leaf such as ``ReLU6``; the last child of an ``nn.Sequential``); ``""`` when the output is
        computed outside any submodule (a residual sum, say).
    post_nonlinearity : bool
        ``last_op`` is a nonlinearity (:data:`NON_NEGATIVE_NONLINEARITIES`, :data:`SIGNED_NONLINEARITIES`).
    non_negative : bool
        No element of the output was negative on the measured inputs.
    zero_fraction : float
        Share of the output's elements that are exactly zero.
    mean : float
        Mean of the output over inputs, positions and channels (layer units).
    mean_offset : float
        RMS over channels of the per-channel means, divided by the output's RMS (0: every channel
        centred on zero; 1: constant channels); 0 for an all-zero output.
    channel_mean : numpy.ndarray
        float64 (channel,): each channel's mean over inputs and positions, the values a mean
        ablation puts in.
    n_inputs : int
        Inputs measured.
    """

    layer: str
    module: str
    last_op: str
    post_nonlinearity: bool
    non_negative: bool
    zero_fraction: float
    mean: float
    mean_offset: float
    channel_mean: np.ndarray = field(repr=False)
    n_inputs: int

    @property
    def zero_is_off(self) -> bool:
        """Zeroing a channel silences it: the output is non-negative, or its channels are centred
        on zero (:data:`MEAN_OFFSET_TOLERANCE`)."""
        return self.non_negative or self.mean_offset < MEAN_OFFSET_TOLERANCE


class AdaptedModel:
    """A network with named layers; see :func:`adapt`.

    Attributes
    ----------
    module : torch.nn.Module
        The wrapped network (not copied).
    """

    def __init__(
        self,
        module: nn.Module,
        aliases: Mapping[str, str] | None = None,
        channel_axes: Mapping[str, int] | None = None,
        output: OutputSelector | None = None,
        forward: Callable | None = None,
    ):
        if not isinstance(module, nn.Module):
            way = " (pass a forward function with its module: adapt(module, forward=function))" * callable(module)
            raise RetinaCodecError(f"cannot adapt a {type(module).__name__}; expected a torch.nn.Module{way}")
        if forward is not None and not callable(forward):
            raise RetinaCodecError(f"forward is a {type(forward).__name__}; expected a function of the input")
        self.module = module
        self._output = check_selector(output)
        self._forward = forward
        self._forward_kwargs: dict[str, Any] = {}
        self._modules = {name: m for name, m in module.named_modules() if name}
        self._aliases = dict(aliases or {})
        for alias, target in self._aliases.items():
            if target not in self._modules:
                raise RetinaCodecError(
                    f"alias {alias!r} points to {target!r}, which is not a module of "
                    f"{type(module).__name__}; expected a dotted module name"
                )
        self._channel_axes = {self.resolve(k): v for k, v in (channel_axes or {}).items()}
        self._splits: dict[tuple[str, tuple], GraphSplit | None] = {}

    @property
    def layers(self) -> list[str]:
        """Names that :meth:`resolve` accepts: the aliases, then every submodule's dotted name."""
        return [*self._aliases, *self._modules]

    def with_forward_kwargs(self, kwargs: Mapping[str, Any]) -> AdaptedModel:
        """A copy that passes ``kwargs`` to every forward pass of the whole network, such as
        ``{"data_key": "session_1"}`` for a model with one readout per recording session."""
        adapted = copy.copy(self)
        adapted._forward_kwargs = dict(kwargs)
        return adapted

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """The model output that targets read (see ``adapt(output=)``), shape (N, ...), for inputs ``x``."""
        return self._select(self._call(x, **self._forward_kwargs))

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        """The whole network's forward pass, its output as the module (or forward function) returns it."""
        return (self._forward or self.module)(*args, **kwargs)

    def _select(self, output: Any) -> torch.Tensor:
        return select_output(output, self._output, type(self.module).__name__)

    def resolve(self, layer: str | nn.Module) -> str:
        """The dotted module name of ``layer`` (an alias, a dotted name, or the submodule itself).

        Raises
        ------
        RetinaCodecError
            If there is no such layer; the message lists the valid names, or the closest ones.
        """
        if isinstance(layer, nn.Module):
            found = next((name for name, module in self._modules.items() if module is layer), None)
            if found is None:
                whole = " is the model itself" if layer is self.module else " is not a submodule of it"
                raise RetinaCodecError(
                    f"layer is a {type(layer).__name__} module that{whole}; expected a submodule of "
                    f"{type(self.module).__name__} or its dotted name (see AdaptedModel.layers)"
                )
            return found
        if isinstance(layer, str):
            if layer in self._aliases:
                return self._aliases[layer]
            if layer in self._modules:
                return layer
        names = self.layers
        if len(names) <= 30:
            expected = f"expected one of: {', '.join(names)}"
        else:
            close = difflib.get_close_matches(str(layer), names, n=8, cutoff=0.3)
            expected = (
                f"closest names: {', '.join(close) or 'none'} ({len(names)} layers in all; see AdaptedModel.layers)"
            )
        raise RetinaCodecError(f"unknown layer {layer!r} in {type(self.module).__name__}; {expected}")

    def channel_axis(self, layer: str, activation: torch.Tensor) -> int:
        """The axis of ``activation`` (the layer's output) that holds channels.

        Conv maps (N, C, H, W) and (N, C, D, H, W) and vectors (N, C): axis 1; token sequences
        (N, T, D) such as ViT encoder blocks: axis 2 (channels = D). Every other axis but the batch
        axis 0 is space (or tokens), summed over by contributions. ``adapt(..., channel_axes=)``
        overrides the rule per layer (e.g. axis 1 for a Conv1d output (N, C, L)).
        """
        name = self.resolve(layer)
        if name in self._channel_axes:
            axis = self._channel_axes[name] % activation.ndim
            if axis == 0:
                raise RetinaCodecError(f"channel axis of layer {layer!r} is 0, the batch axis; expected >= 1")
            return axis
        by_rank = {2: 1, 3: 2, 4: 1, 5: 1}
        if activation.ndim not in by_rank:
            raise RetinaCodecError(
                f"layer {layer!r} outputs shape {tuple(activation.shape)}; expected (N, C), (N, T, D), "
                "(N, C, H, W) or (N, C, D, H, W), or pass channel_axes= to adapt()"
            )
        return by_rank[activation.ndim]

    def _plan(self, name: str) -> tuple[nn.Module | None, list[Callable]]:
        """Find the module to rerun for a layer (None: the layer is a cut) and the steps after it."""
        parts = name.split(".")
        parent, tails, whole_chain = self.module, [], False
        for part in parts:
            steps = None if parent is self.module and self._forward is not None else _chain(parent)
            if steps is None or part not in steps:
                break
            position = steps.index(part)
            tails.append([getattr(parent, s) if isinstance(s, str) else s for s in steps[position + 1 :]])
            parent = getattr(parent, part)
        else:
            whole_chain = True
        entry = None if whole_chain else parent
        return entry, [step for tail in reversed(tails) for step in tail]

    def downstream(self, layer: str) -> Downstream:
        """The network from ``layer``'s output to the model output (see :class:`Downstream`)."""
        name = self.resolve(layer)
        entry, tail = self._plan(name)
        call = self._call if entry is self.module else entry
        return Downstream(self._modules[name], call, tail, self._select, self._split(name, entry))

    def _split(self, name: str, entry: nn.Module | None) -> GraphSplit | None:
        """The traced graph of ``entry`` divided at layer ``name`` (None: no entry, not traceable, or
        the whole network run through a forward function or with extra keyword arguments), traced
        again only when training flags or hooks change."""
        if entry is None or (entry is self.module and (self._forward is not None or self._forward_kwargs)):
            return None
        key = (name, trace_state(entry))
        if key not in self._splits:
            self._splits[key] = split_at(entry, self._modules[name], name, 1 if entry is self.module else None)
        return self._splits[key]

    def capture(self, x: torch.Tensor, layer: str, *, stop: bool = False) -> Capture:
        """Run the model on ``x`` and record the layer's output (and the downstream context).

        Parameters
        ----------
        x : torch.Tensor
            Model input, shape (N, ...).
        layer : str
            Layer name or alias.
        stop : bool
            Stop the forward pass right after the layer (the upstream part only; ``output`` is None).

        Returns
        -------
        Capture

        Raises
        ------
        RetinaCodecError
            If the layer does not run, runs more than once, or does not output a tensor.
        """
        return self.capture_layers(x, [layer], stop=stop)[layer]

    def capture_layers(
        self, x: torch.Tensor, layers: list[str], *, stop: bool = False, graph_from_layers: bool = False
    ) -> dict[str, Capture]:
        """Record the outputs of several layers (and their downstream contexts) in one forward pass.

        Under ``torch.enable_grad`` the recorded outputs stay in the graph that leads to the model
        output, so one backward pass gives the gradient with respect to all of them.

        Parameters
        ----------
        x : torch.Tensor
            Model input, shape (N, ...).
        layers : list of str
            Layer names or aliases.
        stop : bool
            Stop the forward pass once every layer has run (``output`` is None).
        graph_from_layers : bool
            Build the autograd graph only from the first of the layers to run: the pass below it
            runs without grad, and its output becomes a leaf that requires grad (with grad enabled
            again for the rest of the pass). The gradients with respect to the recorded outputs are
            unchanged (what runs below a layer is a constant for them), and the memory the graph
            holds is that of the network above the layers only.

        Returns
        -------
        dict of str to Capture
            One per entry of ``layers``, keyed as given.

        Raises
        ------
        RetinaCodecError
            If a layer does not run, runs more than once, or does not output a tensor.
        """
        names = {layer: self.resolve(layer) for layer in layers}
        recorded: dict[str, dict] = {name: {"calls": 0} for name in names.values()}
        switch = {"pending": graph_from_layers and torch.is_grad_enabled()}
        handles = []
        for name in recorded:
            handles.append(self._modules[name].register_forward_hook(self._recorder(recorded, name, stop, switch)))
            entry, _ = self._plan(name)
            if entry is not None and entry is not self.module:
                handles.append(entry.register_forward_pre_hook(_context_recorder(recorded[name]), with_kwargs=True))
        output = None
        try:
            with torch.no_grad() if switch["pending"] else nullcontext():
                output = self._select(self._call(x, **self._forward_kwargs))
        except _Stop:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return {
            layer: self._checked_capture(layer if isinstance(layer, str) else name, recorded[name], output, x, stop)
            for layer, name in names.items()
        }

    def intervention_point(self, x: torch.Tensor, layer: str) -> InterventionPoint:
        """What the layer's output is, measured on a batch: its last operation, sign, zeros and means.

        Zero means "off" for a channel of a non-negative layer (a ReLU's output, say) or of a signed
        layer whose channels are centred on zero; elsewhere (a batch norm plus a skip, with non-zero
        means) zeroing a channel moves it far from its usual values, and replacing it by its mean
        (:attr:`InterventionPoint.channel_mean`) is the gentler ablation.

        Parameters
        ----------
        x : torch.Tensor
            Model input, shape (N, ...), in the model's dtype and device (the model in eval mode).
        layer : str
            Layer name or alias.

        Returns
        -------
        InterventionPoint
            The pass stops right after the layer's first call.

        Raises
        ------
        RetinaCodecError
            For an unknown layer, one that does not run or does not output a tensor.
        """
        name = self.resolve(layer)
        target = self._modules[name]
        calls: list[tuple[nn.Module, Any]] = []
        found: dict[str, Any] = {}

        def inner(module, inputs, output):
            calls.append((module, output))

        def outer(module, inputs, output):
            found.update(last_op=_last_op(target, calls, output), activation=output)
            raise _Stop

        handles = [m.register_forward_hook(inner) for m in target.modules() if m is not target]
        handles.append(target.register_forward_hook(outer))
        try:
            with torch.no_grad():
                self.module(x)
        except _Stop:
            pass
        finally:
            for handle in handles:
                handle.remove()
        activation = found.get("activation")
        if not isinstance(activation, torch.Tensor):
            raise RetinaCodecError(
                f"layer {layer!r} {'did not run' if not found else 'outputs a ' + type(activation).__name__}; "
                "expected a layer on the path that outputs a tensor"
            )
        return InterventionPoint(
            layer=str(layer),
            module=name,
            last_op=found["last_op"],
            post_nonlinearity=found["last_op"] in NON_NEGATIVE_NONLINEARITIES + SIGNED_NONLINEARITIES,
            n_inputs=int(x.shape[0]),
            **_output_statistics(activation, self.channel_axis(layer, activation)),
        )

    @staticmethod
    def _recorder(recorded: dict[str, dict], name: str, stop: bool, switch: dict) -> Callable:
        def record_output(mod, inputs, output):
            recorded[name]["calls"] += 1
            position, tensor = layer_tensor(output)  # a tuple (attention) stands for its first tensor
            if switch["pending"] and tensor is not None:  # the graph starts here
                switch["pending"] = False
                torch.set_grad_enabled(True)  # the caller's no_grad block restores the mode on exit
                tensor = tensor.detach().requires_grad_()
            recorded[name].setdefault("activation", output if tensor is None else tensor)
            recorded[name].setdefault("position", position)
            if stop and all("activation" in r for r in recorded.values()):
                raise _Stop
            # the rest of the pass gets a copy: it may change it in place (a residual sum) and must
            # not change the recorded output, which stays in the graph leading to the model output
            return None if tensor is None else with_layer_tensor(output, position, tensor.clone())

        return record_output

    def _checked_capture(
        self, layer: str, recorded: dict, output: torch.Tensor | None, x: torch.Tensor, stop: bool
    ) -> Capture:
        if recorded["calls"] != 1 and not stop:
            raise RetinaCodecError(
                f"layer {layer!r} ran {recorded['calls']} times in one forward pass of "
                f"{type(self.module).__name__}; expected a module that runs exactly once (a module "
                "reused in several places, such as the relu of a torchvision Bottleneck, has no single output)"
            )
        if "activation" not in recorded:
            raise RetinaCodecError(f"layer {layer!r} did not run in the forward pass; expected a layer on the path")
        activation = recorded["activation"]
        if not isinstance(activation, torch.Tensor):
            raise RetinaCodecError(
                f"layer {layer!r} outputs a {type(activation).__name__}; expected a tensor, or a tuple holding one "
                "(name a submodule that outputs a tensor)"
            )
        if recorded["position"] is not None:
            warnings.warn(
                f"layer {layer!r} outputs a tuple; explaining its first tensor (element {recorded['position']}), "
                f"shape (N, {', '.join(map(str, activation.shape[1:]))}); name a submodule to explain another",
                stacklevel=4,
            )
        name = self.resolve(layer)
        entry, _ = self._plan(name)
        whole: Context = ((x,), dict(self._forward_kwargs))
        context: Context | None = whole if entry is self.module else recorded.get("context")
        split = self._split(name, entry)
        if split is None or not split.needs_context:
            return Capture(activation, output, context if split is None else None)
        return Capture(activation, output, context, split.context)


def _last_op(layer: nn.Module, calls: list[tuple[nn.Module, Any]], output: Any) -> str:
    """Class name of the last module among ``calls`` (module, output) in the order they returned,
    with no children and whose output is ``output`` itself; "" when there is none."""
    for module, result in reversed(calls):
        if result is output and not any(True for _ in module.children()):
            return type(module).__name__
    return type(layer).__name__ if not any(True for _ in layer.children()) else ""


def _output_statistics(activation: torch.Tensor, axis: int) -> dict[str, Any]:
    """Sign, zeros and means of a layer output, in float64."""
    values = activation.detach().movedim(axis, -1).reshape(-1, activation.shape[axis]).double()
    channel_mean = values.mean(0)
    rms = float(values.square().mean().sqrt())
    return {
        "non_negative": bool((values >= 0).all()),
        "zero_fraction": float((values == 0).double().mean()),
        "mean": float(values.mean()),
        "mean_offset": float(channel_mean.square().mean().sqrt()) / rms if rms > 0 else 0.0,
        "channel_mean": channel_mean.cpu().numpy(),
    }


def _context_recorder(recorded: dict) -> Callable:
    def record_context(mod, args, kwargs):
        recorded.setdefault("context", map_context((args, kwargs), torch.Tensor.clone))

    return record_context


def adapt(
    module: nn.Module | AdaptedModel,
    layers: Mapping[str, str] | None = None,
    channel_axes: Mapping[str, int] | None = None,
    *,
    output: OutputSelector | None = None,
    forward: Callable | None = None,
) -> AdaptedModel:
    """Wrap a network so that its hidden layers can be named, read and replaced.

    Parameters
    ----------
    module : torch.nn.Module or AdaptedModel
        Any network (an AdaptedModel is returned as is when no new option is given).
    layers : mapping of str to str, optional
        Friendly aliases, ``{"alias": "dotted.module.name"}``. Dotted module names always work
        (``"layer3"``, ``"layer3.2"``, ``"encoder.layers.encoder_layer_5"``), and so do the
        submodules themselves (``model.layer3``); the retina CNN's stages are its modules
        ``bipolar``, ``amacrine`` and ``ganglion``.
    channel_axes : mapping of str to int, optional
        Channel axis per layer where the rule of :meth:`AdaptedModel.channel_axis` is wrong.
    output : str, int or callable, optional
        Which tensor of the model's output targets read: an attribute or key (``"logits"``), an
        index into a tuple, or a function of the output. By default a tensor output as it is, else
        its ``.logits``, else the first tensor of a tuple, list or mapping (with a warning).
    forward : callable, optional
        A function of the input that calls ``module`` (``lambda x: module(x).logits``), run
        instead of ``module`` itself; the layers are still ``module``'s submodules.

    Returns
    -------
    AdaptedModel

    Raises
    ------
    RetinaCodecError
        If ``module`` is not a module, ``forward`` is not callable, or an alias points to no module.

    Examples
    --------
    >>> import torchvision
    >>> model = adapt(torchvision.models.resnet18(weights=None), layers={"block8": "layer4.1"})
    >>> model.resolve("block8")
    'layer4.1'
    >>> model.resolve(model.module.layer3)
    'layer3'
    """
    if isinstance(module, AdaptedModel):
        if layers is None and channel_axes is None and output is None and forward is None:
            return module
        module = module.module
    return AdaptedModel(module, layers, channel_axes, output, forward)
