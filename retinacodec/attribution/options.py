"""The rarely-set knobs of :func:`retinacodec.contributions`, :func:`retinacodec.irf` and
:func:`retinacodec.receptive_fields.contribution_maps`, in one frozen dataclass."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from .._validation import check_number
from ..errors import RetinaCodecError
from .activation import ACTIVATIONS
from .quadrature import METHODS

PATHS = ("layer", "input")
"""Integration paths of :func:`retinacodec.contributions`: in the layer's own space, or in input space."""


@dataclass(frozen=True)
class AttributionOptions:
    """Options of the attribution functions that most calls leave at their defaults.

    A field means the same thing wherever it is used; a function refuses a field it has no use
    for when that field is changed (see :func:`checked_options`).

    Raises
    ------
    RetinaCodecError
        For an unknown path, split, activation or quadrature rule, a size limit that is not a
        positive number, or a ``progress`` that is not a bool.
    """

    path: str = "layer"
    """``contributions``: ``"layer"``, the straight path in the layer's own space from the baseline
    activation to the actual one (completeness in that space; only the downstream network runs per
    step); ``"input"``, layer conductance, the straight path in input space (completeness to the
    output when every path from input to output goes through the layer)."""
    split: str | None = None
    """``contributions``: ``"sign"`` sums positive and negative elementwise contributions over space
    separately (extra dim ``sign`` = ["neg", "pos"]); None sums them together."""
    activation: str = "space"
    """``contributions``: how the layer's output is reduced to the ``activation`` variable: summed
    over space (the same for every target at an input; for population targets), or, with
    ``"cell"`` and Cell targets, averaged over each cell's receptive-field window
    (:class:`retinacodec.attribution.activation.CellActivation`), so that it depends on the cell."""
    quadrature: str = "gausslegendre"
    """``irf`` and ``contribution_maps``: the quadrature rule of ``method="ig"`` and of the
    contributions behind an SAE's loadings, one of :data:`retinacodec.attribution.quadrature.METHODS`
    (``contributions`` takes its rule as ``method``)."""
    max_result_gb: float = 8.0
    """``irf``: refuse to start when the result would exceed this size (GB)."""
    progress: bool = True
    """All three: show a progress bar."""

    def __post_init__(self) -> None:
        if self.path not in PATHS:
            raise RetinaCodecError(f"unknown path {self.path!r}; expected one of {', '.join(PATHS)}")
        if self.split not in (None, "sign"):
            raise RetinaCodecError(f"unknown split {self.split!r}; expected None or 'sign'")
        if self.activation not in ACTIVATIONS:
            raise RetinaCodecError(f"unknown activation {self.activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        if self.quadrature not in METHODS:
            raise RetinaCodecError(f"unknown quadrature {self.quadrature!r}; expected one of {', '.join(METHODS)}")
        check_number("max_result_gb", self.max_result_gb, strictly_above=0.0)
        if not isinstance(self.progress, bool):
            raise RetinaCodecError(f"progress is {self.progress!r}; expected True or False")


def checked_options(options: AttributionOptions | None, caller: str, used: Collection[str]) -> AttributionOptions:
    """The options a function runs with: the defaults for None; a changed field that ``caller``
    does not use is refused (it would be silently ignored).

    Parameters
    ----------
    options : AttributionOptions or None
        As given to the function.
    caller : str
        The function's name, for the message.
    used : collection of str
        The fields the function reads.

    Returns
    -------
    AttributionOptions

    Raises
    ------
    RetinaCodecError
        For something other than AttributionOptions or None, or a field outside ``used`` that
        differs from its default.
    """
    if options is None:
        return AttributionOptions()
    if not isinstance(options, AttributionOptions):
        raise RetinaCodecError(f"options is a {type(options).__name__}; expected AttributionOptions(...) or None")
    for field in dataclasses.fields(options):
        if field.name not in used and getattr(options, field.name) != field.default:
            raise RetinaCodecError(
                f"{caller} does not use options.{field.name} (given {getattr(options, field.name)!r}); expected "
                f"it left at its default (only {', '.join(sorted(used))} apply)"
            )
    return options
