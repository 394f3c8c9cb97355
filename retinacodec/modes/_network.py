"""The torch side of the SAE: the thresholded-sigmoid autoencoder, its initialisation, and the
resampling of dead modes. The estimator in :mod:`retinacodec.modes.sae` owns everything else."""
from __future__ import annotations

import math

import torch
from torch import nn


INITIAL_ACTIVE_FRACTION = 0.05
"""Fraction of codes above threshold at initialisation (sets the scale of the last encoder layer)."""
RESAMPLE_MARGIN = 1.0
"""Logit margin by which a resampled mode's code exceeds the threshold on its seed sample."""
RESAMPLE_NORM = 0.2
"""Norm of a resampled atom relative to the mean norm of the other atoms: small, so that new
modes grow by gradient only where they help instead of disrupting every reconstruction."""
ACTIVE_CODES = ("shifted", "sigmoid")
"""What an active code equals: ``(s - threshold) / (1 - threshold)`` or the sigmoid ``s`` itself."""


class ThresholdedSAE(nn.Module):
    """Sparse autoencoder with an MLP encoder, a hard-thresholded sigmoid and a linear dictionary.

    Parameters
    ----------
    n_features : int
        Input width d; also the width of both hidden layers.
    n_modes : int
        Number of dictionary atoms (modes) k.
    threshold : float
        Sigmoid outputs below this value (in (0, 1)) give a zero code.
    active_codes : {"shifted", "sigmoid"}
        Value of an active code: ``(s - threshold) / (1 - threshold)`` in [0, 1), continuous at
        the threshold, or ``s`` in [threshold, 1) as in the paper's reference code.

    Notes
    -----
    ``s = sigmoid(W3 LN(relu(W2 LN(relu(W1 x + b1)) + b2)))``, ``z = g(s) * 1[s >= threshold]``,
    ``x_hat = z D`` with ``D`` of shape (k, d). The indicator is not differentiated, so gradients
    reach the encoder only through active codes.
    """

    def __init__(self, n_features: int, n_modes: int, threshold: float, active_codes: str):
        super().__init__()
        self.threshold = threshold
        self.shifted = active_codes == "shifted"
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
        s = torch.sigmoid(self.to_codes(self.hidden(x)))
        if self.shifted:
            return (s - self.threshold).clamp(min=0.0) / (1.0 - self.threshold)
        return s * (s >= self.threshold).to(s.dtype)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        codes = self.encode(x)
        return codes, codes @ self.dictionary

    @torch.no_grad()
    def initialize(self, x: torch.Tensor, nonnegative: bool, generator: torch.Generator) -> None:
        """Seeded initialisation: default layers from ``generator``, the code layer scaled so that
        about :data:`INITIAL_ACTIVE_FRACTION` of the codes start above threshold (for thresholds
        above sigmoid(1) ~ 0.73; more below), and the atoms
        drawn from the data, ``D_k = x_s / (fraction * k)`` (absolute values when non-negative)."""
        for module in self.encoder:
            if isinstance(module, nn.Linear):
                bound = 1.0 / math.sqrt(module.in_features)
                module.weight.copy_(_uniform(module.weight.shape, bound, generator))
                module.bias.copy_(_uniform(module.bias.shape, bound, generator))
        n_modes, width = self.to_codes.weight.shape
        # the hidden layer is layer-normalised, so |h|^2 ~ width and w.h ~ N(0, std^2 width)
        z_score = _normal_quantile(1.0 - INITIAL_ACTIVE_FRACTION)
        std = max(_logit(self.threshold), 1.0) / z_score / math.sqrt(width)
        self.to_codes.weight.copy_(torch.randn(n_modes, width, generator=generator) * std)
        seeds = torch.randint(len(x), (n_modes,), generator=generator)
        atoms = x[seeds.to(x.device)].float() / (INITIAL_ACTIVE_FRACTION * n_modes)
        self.dictionary.copy_(atoms.abs() if nonnegative else atoms)

    @torch.no_grad()
    def resample(self, modes: torch.Tensor, x: torch.Tensor, reference: torch.Tensor,
                 nonnegative: bool) -> None:
        """Point the given dead modes at the poorly reconstructed samples ``x``, one per mode.

        The code row points along the sample's hidden vector minus the mean hidden vector of
        ``reference`` samples, scaled so that the mode's pre-sigmoid value on the sample is
        ``logit(threshold) + RESAMPLE_MARGIN``: it fires on that sample and on similar ones
        rather than on all. The atom takes the direction of the sample's residual
        ``x - x_hat`` (its positive part when non-negative) and :data:`RESAMPLE_NORM` times the
        mean norm of the other atoms.
        """
        _, reconstruction = self(x)
        residual = x - reconstruction
        if nonnegative:
            residual = residual.clamp(min=0.0)
        h = self.hidden(x)
        direction = h - self.hidden(reference).mean(0)
        # pre-activation on the sample = gain * direction.h; the floor keeps the gain bounded
        # when the sample is barely distinguishable from the reference mean
        projection = torch.maximum((direction * h).sum(1), 0.5 * direction.square().sum(1)).clamp(min=1e-6)
        self.to_codes.weight[modes] = direction * ((_logit(self.threshold) + RESAMPLE_MARGIN) / projection)[:, None]
        others = torch.ones(len(self.dictionary), dtype=torch.bool, device=modes.device)
        others[modes] = False
        norms = self.dictionary[others].norm(dim=1)
        target = RESAMPLE_NORM * (norms.mean() if len(norms) and norms.mean() > 0 else residual.norm(dim=1).mean())
        self.dictionary[modes] = residual / residual.norm(dim=1, keepdim=True).clamp(min=1e-12) * target


def _uniform(shape: torch.Size, bound: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(shape, generator=generator) * 2.0 - 1.0) * bound


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _normal_quantile(p: float) -> float:
    return math.sqrt(2.0) * torch.special.erfinv(torch.tensor(2.0 * p - 1.0, dtype=torch.float64)).item()
