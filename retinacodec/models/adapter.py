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
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..errors import RetinaCodecError
from .graph_split import GraphSplit, split_at, trace_state

Step = str | Callable[[torch.Tensor], torch.Tensor]
"""One step of a chain: the name of a child module, or a function applied between children."""

Context = tuple[tuple, dict]
"""The positional and keyword arguments a module was called with."""


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
    before the layer, or None when :attr:`needs_context` is False.
    """

    def __init__(
        self, layer: nn.Module, entry: nn.Module | None, tail: list[Callable], split: GraphSplit | None = None
    ):
        self._layer = layer
        self._entry = entry
        self._tail = tail
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
        return hidden


@contextmanager
def _replaced_output(layer: nn.Module, replacement: torch.Tensor) -> Iterator[None]:
    calls = []

    def hook(module, inputs, output):
        calls.append(1)
        return replacement

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


class AdaptedModel:
    """A network with named layers; see :func:`adapt`.

    Attributes
    ----------
    module : torch.nn.Module
        The wrapped network (not copied).
    """

    def __init__(
        self, module: nn.Module, aliases: Mapping[str, str] | None = None, channel_axes: Mapping[str, int] | None = None
    ):
        if not isinstance(module, nn.Module):
            raise RetinaCodecError(f"cannot adapt a {type(module).__name__}; expected a torch.nn.Module")
        self.module = module
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

    def resolve(self, layer: str) -> str:
        """The dotted module name of ``layer`` (an alias or a dotted name).

        Raises
        ------
        RetinaCodecError
            If there is no such layer; the message lists the valid names, or the closest ones.
        """
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
            steps = _chain(parent)
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
        return Downstream(self._modules[name], entry, tail, self._split(name, entry))

    def _split(self, name: str, entry: nn.Module | None) -> GraphSplit | None:
        """The traced graph of ``entry`` divided at layer ``name`` (None: no entry, or not traceable),
        traced again only when training flags or hooks change."""
        if entry is None:
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
                output = self.module(x)
        except _Stop:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return {layer: self._checked_capture(layer, recorded[name], output, x, stop) for layer, name in names.items()}

    @staticmethod
    def _recorder(recorded: dict[str, dict], name: str, stop: bool, switch: dict) -> Callable:
        def record_output(mod, inputs, output):
            recorded[name]["calls"] += 1
            if switch["pending"] and isinstance(output, torch.Tensor):  # the graph starts here
                switch["pending"] = False
                torch.set_grad_enabled(True)  # the caller's no_grad block restores the mode on exit
                output = output.detach().requires_grad_()
            recorded[name].setdefault("activation", output)
            if stop and all("activation" in r for r in recorded.values()):
                raise _Stop
            # the rest of the pass gets a copy: it may change it in place (a residual sum) and must
            # not change the recorded output, which stays in the graph leading to the model output
            return output.clone() if isinstance(output, torch.Tensor) else None

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
            raise RetinaCodecError(f"layer {layer!r} outputs a {type(activation).__name__}; expected a tensor")
        name = self.resolve(layer)
        entry, _ = self._plan(name)
        context: Context | None = ((x,), {}) if entry is self.module else recorded.get("context")
        split = self._split(name, entry)
        if split is None or not split.needs_context:
            return Capture(activation, output, context if split is None else None)
        return Capture(activation, output, context, split.context)


def _context_recorder(recorded: dict) -> Callable:
    def record_context(mod, args, kwargs):
        recorded.setdefault("context", map_context((args, kwargs), torch.Tensor.clone))

    return record_context


def adapt(
    module: nn.Module | AdaptedModel,
    layers: Mapping[str, str] | None = None,
    channel_axes: Mapping[str, int] | None = None,
) -> AdaptedModel:
    """Wrap a network so that its hidden layers can be named, read and replaced.

    Parameters
    ----------
    module : torch.nn.Module or AdaptedModel
        Any network (an AdaptedModel is returned as is when no new option is given).
    layers : mapping of str to str, optional
        Friendly aliases, ``{"alias": "dotted.module.name"}``. Dotted module names always work
        (``"layer3"``, ``"layer3.2"``, ``"encoder.layers.encoder_layer_5"``); the retina CNN's
        stages are its modules ``bipolar``, ``amacrine`` and ``ganglion``.
    channel_axes : mapping of str to int, optional
        Channel axis per layer where the rule of :meth:`AdaptedModel.channel_axis` is wrong.

    Returns
    -------
    AdaptedModel

    Raises
    ------
    RetinaCodecError
        If ``module`` is not a module or an alias points to no module.

    Examples
    --------
    >>> import torchvision
    >>> model = adapt(torchvision.models.resnet18(weights=None), layers={"block8": "layer4.1"})
    >>> model.resolve("block8")
    'layer4.1'
    """
    if isinstance(module, AdaptedModel):
        if layers is None and channel_axes is None:
            return module
        module = module.module
    return AdaptedModel(module, layers, channel_axes)
