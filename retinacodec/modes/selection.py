"""Which channels a mode uses: channel weights, each mode's share of each channel, loadings.

The mode/channel machinery that the stage-5 analyses share: contribution maps, instantaneous
receptive fields by mode, control (ablate / preserve a mode's channels) and hypotheses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr

from ..attribution.ig import contributions
from ..attribution.options import AttributionOptions
from ..errors import RetinaCodecError
from ..metrics import column_correlation
from ..models.adapter import AdaptedModel
from ..targets import Target
from .result import Modes
from .sae import SAE


def channel_weights(modes: Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray) -> xr.DataArray:
    """The non-negative weight of every channel in every mode (see :meth:`Modes.channel_weights`).

    Parameters
    ----------
    modes : Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray
        Anything :meth:`Modes.coerce` takes: a fitted :class:`~retinacodec.modes.SAE` (its
        ``modes_``), a modes Dataset, or a dictionary with dims (mode, channel), (mode, feature)
        where ``feature`` stacks (channel, sign) as an SAE fitted on split-sign contributions has
        it, or (mode, channel, sign); an array is (mode, channel).

    Returns
    -------
    xarray.DataArray
        float64 (mode, channel), :math:`W_{mc} = \\sum_s |d_{mcs}|` (the sum over signs of the
        magnitudes of the dictionary entries), with coords mode and channel (0, 1, ... when the
        input has none) and the dictionary's attrs (``layer`` among them when it was fitted on
        labeled contributions).

    Raises
    ------
    RetinaCodecError
        For an unfitted SAE, other dims, or non-finite entries.
    """
    return Modes.coerce(modes).channel_weights()


def modes_layer(weights: xr.DataArray, layer: str | None, model: AdaptedModel) -> str:
    """The layer a decomposition uses: ``layer``, else the one the modes record; checked to agree.

    Parameters
    ----------
    weights : xarray.DataArray
        (mode, channel) from :func:`channel_weights`; its ``layer`` attr, when present, names the
        layer the modes were fitted on.
    layer : str or None
        The layer asked for.
    model : AdaptedModel
        Resolves names and aliases.

    Returns
    -------
    str
        The layer name (as given, or as recorded in the modes).

    Raises
    ------
    RetinaCodecError
        If neither names a layer, a name is unknown, or the two name different layers.
    """
    recorded = weights.attrs.get("layer")
    if layer is None and recorded is None:
        raise RetinaCodecError(
            "the modes do not record their layer; expected layer= naming the layer they were fitted on"
        )
    if layer is not None and recorded is not None and model.resolve(layer) != model.resolve(str(recorded)):
        raise RetinaCodecError(
            f"the modes were fitted on layer {recorded!r}, not {layer!r}; expected modes of the layer being decomposed"
        )
    chosen = str(recorded) if layer is None else layer
    model.resolve(chosen)
    return chosen


def selected_mode_positions(weights: xr.DataArray, selected_modes: Sequence[int] | np.ndarray | None) -> np.ndarray:
    """Positions along ``mode`` to decompose into (all when None), checked to be in range."""
    n_modes = weights.sizes["mode"]
    if selected_modes is None:
        return np.arange(n_modes)
    positions = np.asarray(selected_modes).ravel()
    if (
        positions.size == 0
        or not np.issubdtype(positions.dtype, np.integer)
        or positions.min() < 0
        or positions.max() >= n_modes
        or len(np.unique(positions)) != positions.size
    ):
        raise RetinaCodecError(
            f"selected_modes is {list(np.asarray(selected_modes).ravel())}; expected distinct mode "
            f"positions in 0..{n_modes - 1}"
        )
    return positions


def channel_shares(weights: np.ndarray, loadings: np.ndarray | None, selected: np.ndarray) -> np.ndarray:
    """Each selected mode's share of each channel, per sample.

    Parameters
    ----------
    weights : numpy.ndarray
        (mode, channel) non-negative channel weights :math:`W` (:func:`channel_weights`).
    loadings : numpy.ndarray or None
        (sample, mode) SAE loadings :math:`z`; None gives every mode a loading of 1 (a static
        split of each channel between the modes that use it).
    selected : numpy.ndarray
        Positions of the modes wanted, (k,).

    Returns
    -------
    numpy.ndarray
        float32 (sample, k, channel) shares :math:`s_{mc}`; 1 sample when ``loadings`` is None.

    Notes
    -----
    The SAE reconstructs a sample's contribution of channel :math:`c` as
    :math:`\\sum_m z_m d_{mc}`; mode :math:`m`'s part of it has magnitude :math:`|z_m| W_{mc}`, so

    .. math:: s_{mc} = \\frac{|z_m| W_{mc}}{\\sum_{m'} |z_{m'}| W_{m'c}},

    and :math:`s_{mc} = 0` for a channel that no active mode uses. Over all modes the shares of a
    channel sum to 1 (or 0), so the per-mode parts of anything linear in the channels add up to
    the whole minus the part through channels no active mode uses.
    """
    z = np.ones((1, weights.shape[0])) if loadings is None else np.abs(np.asarray(loadings, dtype=float))
    total = z @ weights
    part = z[:, selected, None] * weights[None, selected]
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total[:, None] > 0, part / total[:, None], 0.0)
    return shares.astype(np.float32)


def shares_tensor(
    weights: np.ndarray,
    loadings: np.ndarray | None,
    selected: np.ndarray,
    shape: tuple[int, int],
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """:func:`channel_shares` for T targets and N inputs, as the tensor :func:`routed_gradients` takes.

    Parameters
    ----------
    weights : numpy.ndarray
        (mode, channel) channel weights.
    loadings : numpy.ndarray or None
        (T, N, mode) loadings, or None for the static split.
    selected : numpy.ndarray
        Positions of the modes wanted, (k,).
    shape : tuple of int
        (T, N).
    dtype, device
        Of the result.

    Returns
    -------
    torch.Tensor
        (T, N, k, channel) shares.
    """
    if loadings is None:
        shares = torch.as_tensor(channel_shares(weights, None, selected), dtype=dtype, device=device)
        return shares.unsqueeze(0).expand(*shape, *shares.shape[1:])
    stacked = np.stack([channel_shares(weights, per_target, selected) for per_target in loadings])
    return torch.as_tensor(stacked, dtype=dtype, device=device)


def mode_loadings(
    model: AdaptedModel,
    layer: str,
    modes: Modes | SAE,
    inputs: torch.Tensor,
    baseline: torch.Tensor,
    targets: Sequence[Target],
    quadrature_rule: str,
    n_steps: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """SAE loadings of every (target, input) pair, from the inputs' contributions at ``layer``.

    Parameters
    ----------
    model : AdaptedModel
        The network.
    layer : str
        The layer the SAE was fitted on.
    modes : Modes or SAE
        Modes with an encoder (a fitted SAE); its ``variable`` picks contributions or activations,
        its input's sign split is reproduced.
    inputs, baseline : torch.Tensor
        Model inputs (N, ...) and the IG baseline (1, ...) or (N, ...).
    targets : sequence of Target
        One per output of interest (T of them).
    quadrature_rule : str
        Quadrature rule of the contributions.
    n_steps : int
        Quadrature nodes of the contributions when the SAE's modes do not record theirs (the
        recorded ``n_steps`` and ``path`` are used when present; the path defaults to ``"layer"``).
    batch_size : int
        Network evaluations per batch of :func:`~retinacodec.attribution.ig.contributions`.
    device : torch.device
        Where to compute.

    Returns
    -------
    numpy.ndarray
        (T, N, mode) loadings.
    """
    modes = Modes.coerce(modes)
    attrs = modes.dictionary.attrs
    split = "sign" if "feature" in modes.dictionary.dims else None
    found = contributions(
        model,
        inputs,
        layer,
        list(targets),
        baseline=baseline,
        n_steps=int(attrs.get("n_steps", n_steps)),
        method=quadrature_rule,
        batch_size=batch_size,
        device=device,
        options=AttributionOptions(path=str(attrs.get("path", "layer")), split=split, progress=False),
    )
    loadings = np.asarray(modes.transform(found), dtype=float)
    return loadings.reshape(len(inputs), len(targets), -1).transpose(1, 0, 2)


def top_channels(
    modes: Modes | SAE | xr.Dataset | xr.DataArray | np.ndarray, mode: int, fraction: float = 0.02
) -> np.ndarray:
    """A mode's strongest channels.

    Parameters
    ----------
    modes : Modes, SAE, xarray.Dataset, xarray.DataArray or numpy.ndarray
        Modes, or anything :meth:`Modes.coerce` takes (see :func:`channel_weights`).
    mode : int
        Position of the mode along ``mode``.
    fraction : float
        Fraction of the layer's channels to pick, in (0, 1]; at least one channel is picked.

    Returns
    -------
    numpy.ndarray
        int64 channel positions, strongest first (weight :math:`\\sum_s |d_{mcs}|`; ties keep
        channel order), ``max(1, round(fraction * n_channels))`` of them.

    Raises
    ------
    RetinaCodecError
        For a mode out of range or a fraction outside (0, 1].
    """
    weights = channel_weights(modes)
    n_modes, n_channels = weights.shape
    if isinstance(mode, bool) or not isinstance(mode, (int, np.integer)) or not 0 <= mode < n_modes:
        raise RetinaCodecError(f"mode {mode!r} is out of range; expected an integer in 0..{n_modes - 1}")
    if not 0 < fraction <= 1:
        raise RetinaCodecError(f"fraction is {fraction!r}; expected a number in (0, 1]")
    count = max(1, int(round(fraction * n_channels)))
    return np.argsort(-weights.values[int(mode)], kind="stable")[:count].astype(np.int64)


def associated_mode(loadings: xr.DataArray | np.ndarray, labels, label) -> int:
    """The mode whose loadings correlate best with being ``label`` (a class, or a cell).

    Parameters
    ----------
    loadings : xarray.DataArray or numpy.ndarray
        (sample, mode) SAE loadings.
    labels : array-like
        (sample,) label of each sample: the class of each image, or the ``cell`` level of a
        retina sample index.
    label
        The label of interest.

    Returns
    -------
    int
        Position of the mode with the largest Pearson correlation between its loading and the
        indicator ``labels == label`` (modes with constant loadings are skipped).

    Raises
    ------
    RetinaCodecError
        If shapes disagree, every or no sample has the label, or every mode is constant.
    """
    values = np.asarray(loadings, dtype=float)
    labels = np.asarray(labels).ravel()
    if values.ndim != 2 or values.shape[0] != labels.size:
        raise RetinaCodecError(
            f"loadings have shape {values.shape} for {labels.size} labels; expected (sample, mode) with one "
            "label per sample"
        )
    indicator = (labels == label).astype(float)
    if indicator.min() == indicator.max():
        raise RetinaCodecError(
            f"{int(indicator.sum())} of {labels.size} samples have label {label!r}; "
            "expected some samples with it and some without"
        )
    correlation = column_correlation(values, indicator[:, None], constant=-np.inf)
    if not np.isfinite(correlation).any():
        raise RetinaCodecError("every mode has constant loadings; expected loadings that vary across samples")
    return int(np.argmax(correlation))


def control_target(loadings: xr.DataArray) -> tuple[str, np.ndarray, object]:
    """(kind, labels, label) of the control target: the OMS cell type (else the first type) by
    ``cell_type``, or the first cell by ``cell`` when all cells share a type."""
    types = np.asarray(loadings["cell_type"].values, dtype=str)
    distinct = list(dict.fromkeys(types))
    if len(distinct) > 1:
        return "cell_type", types, "oms" if "oms" in distinct else distinct[0]
    cells = np.asarray(loadings["cell"].values)
    return "cell", cells, cells[0]
