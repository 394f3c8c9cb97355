"""Training settings: the optimiser, the regularisation and the validation split, in one dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..._validation import check_int
from ...errors import RetinaCodecError


@dataclass(frozen=True)
class TrainingSettings:
    """Optimisation settings of :func:`train_model` (all but ``epochs`` and ``patience`` must
    match to resume a run)."""

    epochs: int = 20
    """Most passes over the training windows."""
    learning_rate: float = 1e-3
    """Adam step size in the first epoch."""
    learning_rate_decay: float = 1.0
    """Factor applied to the step size after every epoch (epoch ``k`` uses
    ``learning_rate * learning_rate_decay ** k``, k from 0)."""
    weight_decay: float = 0.0
    """L2 penalty on all weights (Adam's ``weight_decay``)."""
    batch_segments: int = 8
    """Contiguous stretches of windows per mini-batch, drawn in random order."""
    segment_windows: int = 64
    """Consecutive windows per stretch (a mini-batch holds batch_segments x segment_windows)."""
    validation_fraction: float = 0.1
    """Fraction of each recording held out at its end for validation and early stopping."""
    patience: int = 4
    """Epochs without a lower validation loss before training stops."""
    readout_envelope_px: float = 3.0
    """Standard deviation (px) of a Gaussian around each cell's position: for a dense readout it
    multiplies the readout weights during training (a prior that the cell reads out from near
    where it is; kept in the final weights), for a factorized readout it is the starting mask;
    ``inf`` for no prior. Cells without a position get none."""
    mask_sparsity: float = 0.0
    """Weight of the factorized readout's mask sparsity ``|m|_1 / |m|_2`` in the loss (Klindt
    et al. 2017's L1 on the mask, made scale-free because a batch norm follows the readout)."""
    readout_channel_sparsity: float = 0.0
    """Weight in the loss of the mean over cells of :math:`\\sum_c g_{kc} / \\|g_k\\|_2`, with
    :math:`g_{kc}` how strongly cell :math:`k` reads amacrine channel :math:`c`
    (:meth:`~retinacodec.models.retina_cnn.RetinaCNN.readout_channel_norms`): a group lasso
    over channels that has each cell read few channels (Klindt et al. 2017 put an L1 penalty on
    the feature weights; scale-free because a batch norm follows the readout), from 1 (one
    channel) to the square root of the channel count (all alike)."""
    amacrine_input_sparsity: float = 0.0
    """Weight in the loss of the mean over amacrine channels of :math:`\\sum_b h_{ab} / \\|h_a\\|_2`,
    with :math:`h_{ab}` the L2 norm of amacrine channel :math:`a`'s kernel on bipolar channel
    :math:`b` (:meth:`~retinacodec.models.retina_cnn.RetinaCNN.amacrine_input_norms`): the same
    group lasso as ``readout_channel_sparsity``, one layer down, so that each amacrine channel
    pools few bipolar channels (sparse wiring; scale-free because a batch norm follows the
    convolution)."""
    kernel_l2: float = 0.0
    """Weight of the summed squared convolution kernels (bipolar and amacrine) in the loss. A batch
    norm follows each convolution, so what the network computes does not depend on a kernel's scale:
    this penalty shrinks the kernels without constraining the function, and mainly raises the
    effective learning rate (van Laarhoven 2017, "L2 regularization versus batch and weight
    normalization"). For a prior on what the kernels compute, use ``kernel_smoothness``,
    ``bipolar_rank`` or the scale-free group lassos."""
    kernel_smoothness: float = 0.0
    """Weight of the summed squared spatial Laplacian of the bipolar kernels in the loss."""
    bipolar_rank: int = 0
    """Space-time rank of each bipolar kernel during training: every channel's kernel is a sum of
    ``bipolar_rank`` products of a temporal filter (history,) and a spatial kernel, as in
    space-time separable cores (openretina; Klindt et al. 2017 factorize space and features); the
    saved model keeps the plain (rank-limited) kernels. 0 leaves the kernels free."""
    inhibitory_channels: int = 0
    """Amacrine channels that inhibit (Dale's law: each interneuron has one sign):
    with ``k`` > 0 the amacrine convolution's weights and both batch norms' scales are kept
    non-negative during training, the last ``k`` amacrine channels reach the ganglion cells with
    non-positive readout weights and the others with non-negative ones, so that silencing an
    inhibitory channel can only raise rates, as an amacrine block does. 0 leaves the signs free."""
    plateau_factor: float = 1.0
    """Factor applied to the step size after an epoch whose validation loss is not the lowest
    so far (1 keeps it)."""
    seed: int = 0
    """Seed of the weight initialisation, the batch order and the training noise."""

    def __post_init__(self) -> None:
        check_int("training setting bipolar_rank", self.bipolar_rank, minimum=0)
        check_int("training setting inhibitory_channels", self.inhibitory_channels, minimum=0)
        for name in ("epochs", "batch_segments", "segment_windows", "patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RetinaCodecError(f"training setting {name} is {value!r}; expected a positive integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise RetinaCodecError(f"training setting seed is {self.seed!r}; expected an integer >= 0")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise RetinaCodecError(f"learning_rate is {self.learning_rate!r}; expected a positive number")
        if not (isinstance(self.learning_rate_decay, (int, float)) and 0 < self.learning_rate_decay <= 1):
            raise RetinaCodecError(f"learning_rate_decay is {self.learning_rate_decay!r}; expected a number in (0, 1]")
        if not (isinstance(self.readout_envelope_px, (int, float)) and self.readout_envelope_px > 0):
            raise RetinaCodecError(
                f"readout_envelope_px is {self.readout_envelope_px!r}; expected a positive number of px"
            )
        for name in (
            "weight_decay",
            "mask_sparsity",
            "readout_channel_sparsity",
            "amacrine_input_sparsity",
            "kernel_l2",
            "kernel_smoothness",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and value >= 0):
                raise RetinaCodecError(f"training setting {name} is {value!r}; expected a number >= 0")
        if not (isinstance(self.plateau_factor, (int, float)) and 0 < self.plateau_factor <= 1):
            raise RetinaCodecError(f"plateau_factor is {self.plateau_factor!r}; expected a number in (0, 1]")
        if not (isinstance(self.validation_fraction, (int, float)) and 0 < self.validation_fraction < 1):
            raise RetinaCodecError(f"validation_fraction is {self.validation_fraction!r}; expected a number in (0, 1)")

    @classmethod
    def from_dict(cls, mapping: dict[str, Any]) -> TrainingSettings:
        """Settings from a mapping (a recipe's ``[training]`` table); unknown keys are refused."""
        names = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise RetinaCodecError(f"unknown training settings {unknown}; expected some of {names}")
        return cls(**mapping)
