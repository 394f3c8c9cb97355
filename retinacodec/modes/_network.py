"""The torch side of the SAE: the thresholded-sigmoid autoencoder, its initialisation, and the
resampling of dead modes. The estimator in :mod:`retinacodec.modes.sae` owns everything else."""

from __future__ import annotations

import math

import torch
from torch import nn

INITIAL_ACTIVE_FRACTION = 0.1
"""Fraction of the samples on which each mode fires at initialisation: those most like its seed."""
RESAMPLE_MARGIN = 1.0
"""Logit margin by which a resampled mode's code exceeds the threshold on its seed sample."""
REFERENCE_SAMPLES = 1024
"""Samples whose mean hidden vector is removed from an aimed code row, on which the initial firing
fraction is set, and on which the initial atom scale is fitted."""
RESAMPLE_NORM = 0.2
"""Norm of a resampled atom relative to the mean norm of the other atoms: small, so that new
modes grow by gradient only where they help instead of disrupting every reconstruction."""
ACTIVE_CODES = ("linear", "shifted", "sigmoid")
"""What an active code equals: ``(s - threshold) / (1 - threshold)`` or the sigmoid ``s`` itself."""


class ThresholdedSAE(nn.Module):
    """Sparse autoencoder with an MLP encoder, a hard threshold on its sigmoid and a linear dictionary.

    Parameters
    ----------
    n_features : int
        Input width d; also the width of both hidden layers.
    n_modes : int
        Number of dictionary atoms (modes) k.
    threshold : float
        Sigmoid outputs below this value (in (0, 1)) give a zero code.
    active_codes : {"linear", "shifted", "sigmoid"}
        Value of an active code, from the pre-sigmoid value ``a`` and ``s = sigmoid(a)``:
        ``threshold * (a - logit(threshold))`` (unbounded; near the threshold the same as
        ``"shifted"``), ``(s - threshold) / (1 - threshold)`` in [0, 1), continuous at the
        threshold, or ``s`` in [threshold, 1) as in the paper's reference code.

    Notes
    -----
    ``a = W3 LN(relu(W2 LN(relu(W1 x + b1)) + b2))``, ``z = g(a) * 1[sigmoid(a) >= threshold]``,
    ``x_hat = z D`` with ``D`` of shape (k, d). The indicator is not differentiated, so gradients
    reach the encoder only through active codes.
    """

    def __init__(self, n_features: int, n_modes: int, threshold: float, active_codes: str):
        super().__init__()
        self.threshold = threshold
        self.active_codes = active_codes
        self.encoder = nn.Sequential(
            nn.Linear(n_features, n_features),
            nn.ReLU(),
            nn.LayerNorm(n_features),
            nn.Linear(n_features, n_features),
            nn.ReLU(),
            nn.LayerNorm(n_features),
        )
        self.to_codes = nn.Linear(n_features, n_modes, bias=False)
        self.dictionary = nn.Parameter(torch.zeros(n_modes, n_features))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer, (batch, n_features)."""
        return self.encoder(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Thresholded codes (loadings), (batch, n_modes)."""
        return self.codes(self.to_codes(self.hidden(x)))

    def codes(self, pre: torch.Tensor) -> torch.Tensor:
        """Codes from the pre-sigmoid values ``pre`` (any shape): the head of :meth:`encode`."""
        if self.active_codes == "linear":
            return self.threshold * (pre - _logit(self.threshold)).clamp(min=0.0)
        s = torch.sigmoid(pre)
        if self.active_codes == "shifted":
            return (s - self.threshold).clamp(min=0.0) / (1.0 - self.threshold)
        return s * (s >= self.threshold).to(s.dtype)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = self.encode(x)
        return codes, codes @ self.dictionary

    @torch.no_grad()
    def initialize(self, x: torch.Tensor, nonnegative: bool, generator: torch.Generator) -> None:
        """Seeded, data-driven initialisation: every mode starts as one training sample.

        The hidden layers get PyTorch's default uniform initialisation (from ``generator``).
        Mode k is seeded by a random sample ``x_s``: its code row is aimed at ``x_s`` (see
        :meth:`aim`) so that it fires on the :data:`INITIAL_ACTIVE_FRACTION` of a reference
        batch most like ``x_s``, and its atom is ``c x_s`` (absolute values when
        non-negative), with the one scale ``c`` that best reconstructs the reference batch.
        Each mode thus starts as a plausible part of the data that fires where that part is
        likely, instead of a random direction that gradient descent must first drag into the
        data (with a random code layer, many modes start dead or fire everywhere).
        """
        for module in self.encoder:
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                module.weight.copy_(_uniform(module.weight.shape, bound, generator))
                module.bias.copy_(_uniform(module.bias.shape, bound, generator))
        n_modes = self.dictionary.shape[0]
        samples = x[torch.randint(len(x), (n_modes,), generator=generator).to(x.device)].float()
        reference = torch.randperm(len(x), generator=generator)[:REFERENCE_SAMPLES]
        reference = x[reference.to(x.device)].float()
        self.aim(torch.arange(n_modes, device=x.device), samples, reference, INITIAL_ACTIVE_FRACTION)
        atoms = samples.abs() if nonnegative else samples
        reconstruction = self.encode(reference) @ atoms
        power = reconstruction.square().sum()
        scale = float((reference * reconstruction).sum() / power) if power > 0 else 0.0
        if not scale > 0:  # nothing fired, or signed data anti-aligned: a neutral guess
            scale = 1.0 / n_modes
        # where barely anything fires (few samples), the fitted scale would be unbounded: at most
        # the scale at which a mode firing with the resampling margin reproduces its seed sample
        full = float(self.codes(torch.tensor(_logit(self.threshold) + RESAMPLE_MARGIN)))
        scale = min(scale, 1.0 / full)
        self.dictionary.copy_(atoms * scale)

    @torch.no_grad()
    def aim(self, modes: torch.Tensor, x: torch.Tensor, reference: torch.Tensor, fraction: float | None = None) -> None:
        """Point the code rows of ``modes`` at the samples ``x``, one per mode.

        The row takes the direction of the sample's hidden vector minus the mean hidden vector
        of the ``reference`` samples, so that the mode fires on the sample and on similar
        ones rather than on all. Its length makes the mode fire on the ``fraction`` of the
        reference samples that lie furthest along that direction, or, without ``fraction``
        (or where that cut is not positive), gives a pre-sigmoid value of
        ``logit(threshold) + RESAMPLE_MARGIN`` on the sample itself.
        """
        h = self.hidden(x)
        h_reference = self.hidden(reference)
        direction = h - h_reference.mean(0)
        # pre-activation on the sample = gain * direction.h; the floor keeps the gain bounded
        # when the sample is barely distinguishable from the reference mean
        projection = (direction * h).sum(1)
        projection = torch.maximum(projection, 0.5 * direction.square().sum(1)).clamp(min=1e-6)
        gain = (_logit(self.threshold) + RESAMPLE_MARGIN) / projection
        # no reference sample may drive the mode harder than its own sample does: a sample that
        # barely differs from the reference mean would otherwise get an unbounded gain
        reach = (direction @ h_reference.T).max(1).values
        gain = torch.minimum(gain, (_logit(self.threshold) + RESAMPLE_MARGIN) / reach.clamp(min=1e-6))
        if fraction is not None:
            rank = max(1, round(fraction * len(reference)))
            cut = (direction @ h_reference.T).topk(rank, dim=1).values[:, -1]
            gain = torch.where(cut > 0, _logit(self.threshold) / cut.clamp(min=1e-6), gain)
        self.to_codes.weight[modes] = direction * gain[:, None]

    @torch.no_grad()
    def resample(self, modes: torch.Tensor, x: torch.Tensor, reference: torch.Tensor, nonnegative: bool) -> None:
        """Point the given dead modes at the poorly reconstructed samples ``x``, one per mode.

        The code row is aimed at the sample (see :meth:`aim`). The atom takes the direction of
        the sample's residual ``x - x_hat`` (its positive part when non-negative) and
        :data:`RESAMPLE_NORM` times the mean norm of the other atoms.
        """
        _, reconstruction = self(x)
        residual = x - reconstruction
        if nonnegative:
            residual = residual.clamp(min=0.0)
        self.aim(modes, x, reference)
        others = torch.ones(len(self.dictionary), dtype=torch.bool, device=modes.device)
        others[modes] = False
        norms = self.dictionary[others].norm(dim=1)
        target = RESAMPLE_NORM * (norms.mean() if len(norms) and norms.mean() > 0 else residual.norm(dim=1).mean())
        self.dictionary[modes] = residual / residual.norm(dim=1, keepdim=True).clamp(min=1e-12) * target


def _uniform(shape: torch.Size, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))
