"""The sparse autoencoder (SAE) estimator that decomposes contributions into modes (CODEC)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import cast

import numpy as np
import torch
import xarray as xr
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .. import __version__
from .._progress import progress_bar
from .._validation import check_allocation
from ..device import frozen, resolve_device, torch_threads
from ..errors import RetinaCodecError
from ..io.cf import DIMENSIONLESS
from ..io.resumable import register_result_kind
from ._inputs import FeatureMatrix, as_feature_matrix, check_negative_part, check_trainable, label_matrix
from ._network import ACTIVE_CODES, REFERENCE_SAMPLES, ThresholdedSAE
from .sae_io import FITTED_SCALARS, SavedSAE, read_sae, write_sae

_L1_TARGETS = ("dictionary", "codes", "contributions")
SMALL_WORK = 1 << 30
"""Below this many multiply-adds per batch (a 2048-feature layer with 1024 modes has 0.8G at the
default batch size), a CPU fit runs on one torch thread. A step is dozens of small operations, and threads
wait for each other at the end of every one: on a quiet machine a second thread gains little
on such matrices (an SAE on 24 features steps about 1.2x faster on one thread than on two), and
with another job on the cores a thread waiting for a descheduled partner makes the fit many
times slower (a 48-feature fit stepped 50-100x slower on two threads than on one on 2 loaded
cores)."""
LR_WIDTH = 0.075
"""``lr=None`` means ``min(LR_MAX, LR_WIDTH / sqrt(n_features), LR_COHERENT / n_features)``: Adam
moves every weight by about ``lr`` per step, so a pre-activation summed over ``n_features`` inputs
moves by about ``lr sqrt(n_features)``; wider inputs need smaller steps to stay stable."""
LR_COHERENT = 1.2
"""Where a row's weight updates share their sign, as they do early in a fit, its pre-activation
moves by about ``lr n_features``: beyond 256 features (where the two rules meet) the rate is at
most ``LR_COHERENT / n_features``. On 50,000 planted samples of 2048 features the square-root
rule's 0.0017 threw the fit out of its basin as the warm-up ended (loss 0.76 to 1.48, recovery
0.54 at the end), where 5e-4 recovered the atoms (0.99)."""
LR_MAX = 0.015
WARMUP_STEPS = 100
"""Steps over which the learning rate ramps up linearly from ``lr / WARMUP_STEPS`` to ``lr``:
full-size first steps, taken before Adam's moment estimates settle, can kill most modes."""
BATCH_SIZE = 128
"""Default samples per training batch; an SAE needs at least this many samples."""
PERIOD_STEPS = 100
"""Most gradient steps between two checks of the loss. An epoch of more batches is split into
nearly equal periods, each checked as an epoch of a smaller input is (early stopping, dead-mode
resampling, the state kept as the best), so that on large inputs patience and resampling count
optimisation steps rather than passes over data the fit has long converged on: on 50,000 planted
samples of 128 features the modes were recovered (0.999) after the first of the 34 epochs a
per-epoch check ran. Inputs of up to 100 batches (12,800 samples at the default batch size) fit
exactly as with one check per epoch."""
GRADIENT_CLIP = 1.0
"""Largest norm of the gradient (all parameters together) of one step: on heavy-tailed inputs
(the demo's activations reach 9 standard deviations) a step after resampling can otherwise
throw the fit out of its basin (loss x30, most modes dead)."""
ADAM_BETAS = (0.9, 0.99)
"""Adam's moment decay rates: the second moment forgets faster than PyTorch's default 0.999,
which lets the step sizes follow the quickly shrinking gradients of the first epochs."""


class SAE(TransformerMixin, BaseEstimator):
    """Sparse autoencoder with a non-negative dictionary, as in CODEC (ICLR 2026).

    An MLP encoder maps each sample to one pre-activation per mode; a mode is active where the
    sigmoid of its pre-activation reaches ``threshold`` (the paper's hard threshold), and its code
    (loading) then grows with the pre-activation (``active_codes``); the reconstruction is the
    code-weighted sum of the dictionary atoms (modes).

    Parameters
    ----------
    n_modes : int or None
        Number of modes (dictionary atoms); None means 3 x the number of input features.
    threshold : float
        Hard threshold in (0, 1) on the sigmoid of the pre-activations.
    l1 : float
        Weight of the L1 penalty (see ``l1_on`` and Notes).
    l1_on : {"contributions", "codes", "dictionary"}
        What the L1 penalty acts on. ``"contributions"`` (the default): each active mode's
        share of the reconstruction, ``code x |atom|``, summed over modes and divided by the
        number of features, so that shrinking codes while growing atoms gains nothing and the
        weight means the same at any number of modes. ``"codes"``: the mean code (use
        ``l1=1.0``). ``"dictionary"``: the mean absolute atom entry, as in the paper's
        reference code (use ``l1=1e-4``); it leaves the codes dense and finds blends of the
        generating atoms.
    active_codes : {"linear", "shifted", "sigmoid"}
        Value of an active code, from the pre-activation ``a`` with ``s = sigmoid(a)``:
        ``"linear"`` (the default) gives ``threshold * (a - logit(threshold))``, unbounded, so
        that one mode can carry any amplitude; ``"shifted"`` gives ``(s - threshold) /
        (1 - threshold)`` in [0, 1); ``"sigmoid"`` gives ``s`` itself in [threshold, 1), as in
        the paper's reference code (near-binary loadings). ``"linear"`` and ``"shifted"``
        start from 0 at the threshold with the same slope; ``"sigmoid"`` jumps to ``threshold``.
    nonnegative : bool
        Keep the dictionary non-negative (projected onto D >= 0 after every step).
    lr : float or None
        Peak Adam learning rate, reached after a linear warm-up over the first 100 steps.
        None means ``min(0.015, 0.075 / sqrt(n_features), 1.2 / n_features)``: wider inputs
        need smaller steps (0.015 for 24 features, 0.0047 for 256, 0.00059 for 2048).
    batch_size : int
        Samples per gradient step.
    epochs : int
        Maximum number of passes over the data.
    early_stopping : bool
        Stop when the loss of a period (an epoch, or a part of one on large inputs: see Notes)
        has not improved by more than ``tol`` (relative) for ``n_iter_no_change`` periods.
    tol : float
        Relative improvement of a period's loss that counts as progress.
    n_iter_no_change : int
        Patience in periods (epochs on inputs of up to 100 batches).
    resample_dead : bool
        After each period of the warm-up and of the first half of the rest of training, point
        modes that never fired during that period at poorly reconstructed samples (see Notes).
    variable : str
        Variable of a contributions Dataset to decompose (``"contribution"`` or ``"activation"``).
    seed : int
        Seed of the initialisation and of the batch order; the same seed gives the same fit.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    progress : bool
        Show a tqdm progress bar over epochs.

    Attributes
    ----------
    modes_ : xarray.DataArray or numpy.ndarray
        Dictionary (mode, channel) in the input's units, so that ``X ~ loadings @ modes_``.
        A DataArray when fitted on labeled input, keeping the channel coords; for split-sign
        input the second dim is ``feature``, a stacked (channel, sign) index with sign varying
        fastest (``modes_.sel(sign="pos")`` picks one half, ``modes_.unstack("feature")`` gives
        (mode, channel, sign)) and the ``neg`` entries are magnitudes of negative contributions.
    scale_ : float
        Global standard deviation of the training input; the network sees ``X / scale_``.
    r2_ : float
        Coefficient of determination of the reconstruction of the training input (see Notes).
    l0_ : float
        Mean number of active modes per training sample.
    dead_modes_ : numpy.ndarray of bool, (mode,)
        Modes never active on the training input after fitting.
    history_ : numpy.ndarray, (period,)
        Mean training loss per period (on the scaled input): one per epoch, several per epoch
        on inputs of more than 100 batches.
    n_iter_ : int
        Epochs run (the last one possibly cut short by early stopping).
    n_resampled_ : int
        Dead modes resampled during training (a mode can be counted more than once).
    n_features_in_ : int
        Number of input features.

    Notes
    -----
    With ``X`` scaled by ``scale_ = std(X)``, codes ``z`` and dictionary ``D`` (mode, feature)
    the loss per batch is ``mean((x - z D)^2) + l1 * P`` with, per sample averaged over the
    batch, ``P = sum_k z_k |D_k| / n_features`` (``l1_on="contributions"``), or ``P = mean(z)``
    (``"codes"``), or ``P = mean(|D|)`` (``"dictionary"``). Adam (betas 0.9, 0.99) with the
    gradient norm clipped at 1, and ``D`` projected onto ``D >= 0`` after each step when
    ``nonnegative``. Non-negative modes and loadings cannot reconstruct negative inputs: a
    negative part up to 5% of the input's norm is taken for noise (fitted, with a warning),
    a larger one is refused (split-sign contributions are fed as magnitudes). The reported
    ``r2_`` and :meth:`score` use per-feature means (sample i, feature j)::

        R^2 = 1 - sum_ij (x_ij - x_hat_ij)^2 / sum_ij (x_ij - mean_i x_ij)^2

    (scikit-learn's ``r2_score(..., multioutput="variance_weighted")``).

    Every mode starts as a random training sample: its atom is that sample (scaled to fit
    the data), and its encoder row is aimed so that it fires on the 10% of samples most like
    that sample (see ``ThresholdedSAE.initialize``). ``fit`` ends with the network as it was at
    the start of the period with the lowest loss, unless the last period was that period: a late
    resampling or an unlucky step cannot spoil the result. A period is an epoch, or on inputs
    of more than :data:`PERIOD_STEPS` (100) batches one of the nearly equal parts of at most
    100 batches an epoch is split into: the loss is checked, and dead modes are resampled, once
    per period. Under ~1G multiply-adds per batch (:data:`SMALL_WORK`) a CPU fit runs on one
    torch thread.

    Dead modes are handled, not only reported: after a period in which a mode stayed below
    threshold on every sample, its atom is pointed at the residual of a sample drawn with
    probability proportional to the square of its squared reconstruction error (with 0.2 x the
    mean atom norm), its encoder row is set to fire on that sample and similar ones, and its
    Adam moments are reset. ``fit`` does this during the warm-up and the first half of the
    periods after it (modes die once the learning rate has reached its peak); ``partial_fit``
    after every pass. ``dead_modes_`` reports what remains dead at the end. How the defaults
    were chosen, on planted problems and on the demo's layers: ``docs/concepts/modes.md``.
    """

    def __init__(
        self,
        n_modes: int | None = None,
        threshold: float = 0.9,
        l1: float = 0.3,
        l1_on: str = "contributions",
        active_codes: str = "linear",
        nonnegative: bool = True,
        lr: float | None = None,
        batch_size: int = BATCH_SIZE,
        epochs: int = 200,
        early_stopping: bool = True,
        tol: float = 1e-3,
        n_iter_no_change: int = 5,
        resample_dead: bool = True,
        variable: str = "contribution",
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ):
        self.n_modes = n_modes
        self.threshold = threshold
        self.l1 = l1
        self.l1_on = l1_on
        self.active_codes = active_codes
        self.nonnegative = nonnegative
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.early_stopping = early_stopping
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.resample_dead = resample_dead
        self.variable = variable
        self.seed = seed
        self.device = device
        self.progress = progress

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y=None) -> SAE:
        """Learn the modes of ``X`` from a fresh, seeded initialisation.

        Parameters
        ----------
        X : numpy.ndarray, xarray.DataArray or xarray.Dataset
            (sample, feature) array, (sample, channel[, sign]) DataArray, or a contributions
            Dataset (``self.variable`` is used).
        y : None
            Ignored.

        Returns
        -------
        SAE
            The fitted estimator.
        """
        data = self._training_matrix(X)
        with torch_threads(self._threads(data)):
            x = self._start(data)
            best, stale, kept, stopped = np.inf, 0, None, False
            period, n_periods = self._periods(len(x))
            resample_until = self._resampling_periods(n_periods, period)
            epochs = progress_bar(range(int(self.epochs)), desc="SAE", unit="epoch", progress=self.progress)
            for epoch in epochs:
                order = torch.randperm(len(x), generator=self._generator).to(x.device)
                for part in order.split(period):
                    start = {name: value.detach().clone() for name, value in self._network.state_dict().items()}
                    dead, errors = self._pass(x, part)
                    epochs.set_postfix(loss=f"{self.history_[-1]:.4g}", dead=int(dead.sum()))
                    if kept is None or self.history_[-1] < kept[0]:
                        kept = (self.history_[-1], start)
                    if self.resample_dead and len(self.history_) <= resample_until and dead.any():
                        self._resample(dead, x, errors)
                    # resampled modes must pay off within the patience, like any other change
                    if self.history_[-1] < best * (1.0 - self.tol):
                        best, stale = self.history_[-1], 0
                    else:
                        stale += 1
                    stopped = self.early_stopping and stale >= self.n_iter_no_change
                    if stopped:
                        break
                self.n_iter_ = epoch + 1
                if stopped:
                    break
            assert kept is not None  # kept at the first period (epochs >= 1)
            if self.history_[-1] > kept[0]:  # the last period was not the best: go back to the best's start
                self._network.load_state_dict(kept[1])
            self._finish(data, x)
        return self

    def _periods(self, n_samples: int) -> tuple[int, int]:
        """Samples per period and periods per epoch: an epoch of more than :data:`PERIOD_STEPS`
        batches is split into nearly equal periods of whole batches."""
        batch_size = int(self.batch_size)
        steps = math.ceil(n_samples / batch_size)
        n_periods = math.ceil(steps / PERIOD_STEPS)
        return math.ceil(steps / n_periods) * batch_size, n_periods

    def _resampling_periods(self, n_periods: int, period: int) -> int:
        """Periods during which dead modes are resampled: the warm-up's, then half of the rest.

        Modes die once the learning rate has reached its peak, so the half of training in which
        resampling pays off is counted from the end of the warm-up."""
        warmup = math.ceil(WARMUP_STEPS / math.ceil(period / int(self.batch_size)))
        total = n_periods * int(self.epochs)
        return min(warmup, total) + max(total - warmup, 0) // 2

    def partial_fit(self, X, y=None) -> SAE:
        """One pass (epoch) over ``X``, continuing from the current state.

        The first call initialises the network (and ``scale_``) from ``X``; later calls need
        the same number of features. Modes dead during the pass are resampled when
        ``resample_dead``. Fitted attributes describe ``X`` after the pass. The optimiser state
        is not saved by :meth:`save`: a loaded SAE continues with fresh Adam moments.

        Parameters
        ----------
        X : numpy.ndarray, xarray.DataArray or xarray.Dataset
            A chunk of training data, as for :meth:`fit`.
        y : None
            Ignored.

        Returns
        -------
        SAE
            The updated estimator.
        """
        data = self._training_matrix(X)
        if hasattr(self, "_network"):
            self._check_n_features(data)
        with torch_threads(self._threads(data)):
            if hasattr(self, "_network"):
                x = torch.from_numpy(data.values / self.scale_).to(self._network.dictionary.device)
            else:
                x = self._start(data)
            dead, errors = self._pass(x, torch.randperm(len(x), generator=self._generator).to(x.device))
            self.n_iter_ += 1
            if self.resample_dead and dead.any():
                self._resample(dead, x, errors)
            self._finish(data, x)
        return self

    def _threads(self, data: FeatureMatrix) -> int | None:
        """One torch thread for a CPU fit under :data:`SMALL_WORK` multiply-adds per batch, else
        None (the setting as it is)."""
        n_features = data.values.shape[1]
        n_modes = 3 * n_features if self.n_modes is None else int(self.n_modes)
        work = int(self.batch_size) * n_features * (n_features + n_modes)
        return 1 if work < SMALL_WORK and resolve_device(self.device).type == "cpu" else None

    def _learning_rate(self, n_features: int) -> float:
        if self.lr is None:
            return min(LR_MAX, LR_WIDTH / math.sqrt(n_features), LR_COHERENT / n_features)
        return float(self.lr)

    def _check_params(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise RetinaCodecError(f"threshold={self.threshold}; expected a number in (0, 1)")
        for name, allowed in (("l1_on", _L1_TARGETS), ("active_codes", ACTIVE_CODES)):
            if getattr(self, name) not in allowed:
                raise RetinaCodecError(f"{name}={getattr(self, name)!r}; expected one of {allowed}")
        if self.n_modes is not None and int(self.n_modes) < 1:
            raise RetinaCodecError(f"n_modes={self.n_modes}; expected a positive integer or None")
        for name in ("batch_size", "epochs", "n_iter_no_change"):
            if int(getattr(self, name)) < 1:
                raise RetinaCodecError(f"{name}={getattr(self, name)}; expected a positive integer")
        for name in ("l1", "lr", "tol"):
            if getattr(self, name) is None and name == "lr":
                continue
            if not getattr(self, name) >= 0:
                raise RetinaCodecError(f"{name}={getattr(self, name)}; expected a non-negative number")

    def _training_matrix(self, X) -> FeatureMatrix:
        self._check_params()
        data = as_feature_matrix(X, self.variable)
        check_trainable(data.values)
        if len(data.values) < self.batch_size:
            raise RetinaCodecError(
                f"got {len(data.values)} samples, fewer than batch_size={self.batch_size}; "
                "pass more samples or a smaller batch_size"
            )
        if self.nonnegative and data.values.min() < 0:
            check_negative_part(data.values)
        return data

    def _start(self, data: FeatureMatrix) -> torch.Tensor:
        """Seeded initialisation of scale, network, optimiser and batch order; returns the
        scaled training input on the device."""
        n_features = data.values.shape[1]
        n_modes = 3 * n_features if self.n_modes is None else int(self.n_modes)
        n_samples = len(data.values)
        # encoder and dictionary with their gradients and Adam moments, and the loadings of every sample
        check_allocation(
            n_modes * (8 * n_features + n_samples),
            4,
            f"an SAE of n_modes={n_modes} on {n_features} features and {n_samples} samples",
        )
        self._generator = torch.Generator().manual_seed(int(self.seed))
        self.scale_ = float(data.values.std()) or 1.0
        network = ThresholdedSAE(n_features, n_modes, self.threshold, self.active_codes)
        network = network.to(resolve_device(self.device))
        x = torch.from_numpy(data.values / self.scale_).to(network.dictionary.device)
        network.initialize(x, self.nonnegative, self._generator)
        self._attach(network)
        self._features, self._attrs = data.features, _simple_attrs(data.attrs)
        self.n_features_in_ = n_features
        self.history_ = np.empty(0)
        self.n_iter_ = 0
        self.n_resampled_ = 0
        return x

    def _attach(self, network: ThresholdedSAE) -> None:
        self._network = network
        self._lr = self._learning_rate(network.dictionary.shape[1])
        self._optimizer = torch.optim.Adam(network.parameters(), lr=self._lr, betas=ADAM_BETAS, fused=True)
        self._steps = 0  # Adam starts afresh, so the warm-up starts again too

    def _pass(self, x: torch.Tensor, order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Adam steps over the samples ``order`` of ``x``, in that order (a period); appends the
        mean loss to ``history_`` and returns the modes that never fired and each sample's
        squared reconstruction error (0 for the samples of ``x`` not in ``order``).

        Nothing here waits for a value (no ``.item()``): per-step bookkeeping is queued as
        tensor operations and read once at the end of the pass."""
        network, optimizer = self._network, self._optimizer
        activity = torch.zeros(network.dictionary.shape[0], device=x.device)
        errors = torch.empty(len(order), device=x.device)
        losses, sizes = [], []
        l1, on_codes = float(self.l1), self.l1_on == "codes"
        for start in range(0, len(order), int(self.batch_size)):
            batch = x[order[start : start + int(self.batch_size)]]
            codes, reconstruction = network(batch)
            squared = (batch - reconstruction).square()
            # codes are >= 0, so their mean is their L1 norm per entry
            if self.l1_on == "contributions":
                penalty = (codes @ network.dictionary.norm(dim=1)).mean() / x.shape[1]
            else:
                penalty = codes.mean() if on_codes else network.dictionary.abs().mean()
            loss = torch.add(squared.mean(), penalty, alpha=l1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self._steps < WARMUP_STEPS:
                self._steps += 1
                for group in optimizer.param_groups:
                    group["lr"] = self._lr * self._steps / WARMUP_STEPS
            torch.nn.utils.clip_grad_norm_(network.parameters(), GRADIENT_CLIP, foreach=True)
            optimizer.step()
            with torch.no_grad():
                if self.nonnegative:
                    network.dictionary.clamp_(min=0.0)
                activity += codes.sum(0)
                errors[start : start + len(batch)] = squared.sum(1)
                losses.append(loss.detach())
                sizes.append(len(batch))
        by_sample = torch.zeros(len(x), device=x.device)
        by_sample[order] = errors  # filled in batch order
        total = torch.stack(losses) @ torch.tensor(sizes, dtype=torch.float32, device=x.device)
        self.history_ = np.append(self.history_, float(total) / len(order))
        return activity == 0, by_sample

    def _resample(self, dead: torch.Tensor, x: torch.Tensor, errors: torch.Tensor) -> None:
        """Resample dead modes onto samples drawn with probability ~ squared error, and reset
        their Adam moments."""
        weights = errors.square().cpu().double()
        n_draw = min(int(dead.sum()), int((weights > 0).sum()))
        if n_draw == 0:
            return
        samples = torch.multinomial(weights, n_draw, replacement=False, generator=self._generator)
        reference = torch.randperm(len(x), generator=self._generator)[:REFERENCE_SAMPLES]
        modes = torch.nonzero(dead).flatten()[:n_draw]
        self._network.resample(modes, x[samples.to(x.device)], x[reference.to(x.device)], self.nonnegative)
        for parameter in (self._network.dictionary, self._network.to_codes.weight):
            for moment in self._optimizer.state.get(parameter, {}).values():
                if moment.dim() > 0:
                    moment[modes] = 0.0
        self.n_resampled_ += n_draw

    def _finish(self, data: FeatureMatrix, x: torch.Tensor) -> None:
        """Fitted attributes from the trained network and the training input."""
        self.modes_ = self._label_modes()
        codes, reconstruction = self._encode(x)
        self.r2_ = _r2(data.values, reconstruction * self.scale_)
        self.l0_ = float((codes > 0).sum(1).mean())
        self.dead_modes_ = cast(np.ndarray, ~(codes > 0).any(0))  # (mode,): codes are (sample, mode)

    # --------------------------------------------------------------- transforms
    def transform(self, X) -> np.ndarray | xr.DataArray:
        """Loadings of each sample on each mode.

        Parameters
        ----------
        X : numpy.ndarray, xarray.DataArray or xarray.Dataset
            Same kind of input as for :meth:`fit`, with the same number of features.

        Returns
        -------
        numpy.ndarray or xarray.DataArray
            (sample, mode) loadings: 0 for inactive modes, else positive (``"linear"``), in
            [0, 1) (``"shifted"``) or in [threshold, 1) (``"sigmoid"``); a DataArray with the
            input's sample coords when the input is labeled (units ``"1"``: the modes carry the
            input's units).
        """
        data = self._validated(X)
        codes, _ = self._encode(torch.from_numpy(data.values / self.scale_))
        if data.samples is None:  # not labeled
            return codes
        return label_matrix(codes, data.samples, "mode", {**self._provenance(), "units": DIMENSIONLESS})

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        """The modes' pre-threshold values of a (sample, feature) tensor, differentiable in ``x``.

        Parameters
        ----------
        x : torch.Tensor
            float32 (sample, feature) input in the input's units (split-sign contributions as
            magnitudes), on any device.

        Returns
        -------
        torch.Tensor
            (sample, mode) pre-activations ``a`` (the values the sigmoid and threshold act on) on the
            SAE's device; a mode's loading (:meth:`transform`) is a non-decreasing function of its ``a``, 0 below the
            threshold. Gradients flow to ``x`` only, never to the SAE's parameters.
        """
        check_is_fitted(self, "modes_")
        network = self._network
        with frozen(network):
            return network.to_codes(network.hidden(x.to(network.dictionary) / self.scale_))

    def inverse_transform(self, X) -> np.ndarray | xr.DataArray:
        """Reconstruct inputs from loadings: ``X_hat = loadings @ modes_``.

        Parameters
        ----------
        X : numpy.ndarray or xarray.DataArray
            (sample, mode) loadings.

        Returns
        -------
        numpy.ndarray or xarray.DataArray
            (sample, feature) reconstruction in input units; labeled like ``modes_`` (and with
            the loadings' sample coords) when the loadings are a DataArray.
        """
        check_is_fitted(self, "modes_")
        loadings = np.asarray(X, dtype=np.float32)
        n_modes = self._network.dictionary.shape[0]
        if loadings.ndim != 2 or loadings.shape[1] != n_modes:
            raise RetinaCodecError(f"loadings have shape {loadings.shape}; expected (sample, {n_modes})")
        reconstruction = loadings @ np.asarray(self.modes_)
        if not isinstance(X, xr.DataArray) or self._features is None:
            return reconstruction
        samples = X.isel({X.dims[1]: 0}, drop=True)
        return label_matrix(reconstruction, samples, self._features, self._provenance())

    def score(self, X, y=None) -> float:
        """R^2 of the reconstruction of ``X`` relative to its per-feature means (see Notes)."""
        data = self._validated(X)
        _, reconstruction = self._encode(torch.from_numpy(data.values / self.scale_))
        return _r2(data.values, reconstruction * self.scale_)

    def _validated(self, X) -> FeatureMatrix:
        check_is_fitted(self, "modes_")
        data = as_feature_matrix(X, self.variable)
        self._check_n_features(data)
        return data

    def _check_n_features(self, data: FeatureMatrix) -> None:
        if data.values.shape[1] != self.n_features_in_:
            raise RetinaCodecError(
                f"input has {data.values.shape[1]} features; expected {self.n_features_in_} as during fit"
            )

    @torch.no_grad()
    def _encode(self, x: torch.Tensor, chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Codes and reconstruction (scaled units) of ``x``, in chunks to bound memory."""
        device = self._network.dictionary.device
        pieces = [self._network(part.to(device)) for part in x.split(chunk)]
        codes = torch.cat([c for c, _ in pieces]).cpu().numpy()
        reconstruction = torch.cat([r for _, r in pieces]).cpu().numpy()
        return codes, reconstruction

    # ------------------------------------------------------------ labels, I/O
    def _provenance(self) -> dict:
        return {
            **self._attrs,
            "retinacodec_version": __version__,
            "method": "SAE",
            "sae_params": json.dumps(self.get_params()),
        }

    def _label_modes(self):
        modes = self._network.dictionary.detach().cpu().numpy() * self.scale_
        if self._features is None:
            return modes
        return label_matrix(modes, "mode", self._features, self._provenance())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the fitted SAE to netCDF (atomic): modes, every network weight, training history
        and dead modes as variables; hyperparameters and fitted scalars as attrs (see
        :mod:`retinacodec.modes.sae_io`).

        Parameters
        ----------
        path : str or path-like
            Destination ``.nc`` file.

        Returns
        -------
        pathlib.Path
            The written path.
        """
        check_is_fitted(self, "modes_")
        modes = self.modes_
        if not isinstance(modes, xr.DataArray):
            modes = xr.DataArray(modes, dims=("mode", "feature"))
        fitted = (self.scale_, self.r2_, self.l0_, self.n_iter_, self.n_resampled_)
        saved = SavedSAE(
            params=self.get_params(),
            modes=modes,
            weights={name: tensor.detach().cpu().numpy() for name, tensor in self._network.state_dict().items()},
            history=self.history_,
            dead_modes=self.dead_modes_,
            fitted=dict(zip(FITTED_SCALARS, fitted)),
            labeled=self._features is not None,
            input_attrs=self._attrs,
            provenance=self._provenance(),
        )
        return write_sae(saved, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SAE:
        """Read an SAE written by :meth:`save`; its transforms equal those before saving.

        Parameters
        ----------
        path : str or path-like
            A file written by :meth:`save`.

        Returns
        -------
        SAE
            The fitted estimator, on the device its ``device`` parameter resolves to now.

        Raises
        ------
        RetinaCodecError
            If the file is not a saved SAE.
        """
        saved = read_sae(path)
        sae = cls(**saved.params)
        n_modes, n_features = saved.modes.shape
        network = ThresholdedSAE(n_features, n_modes, sae.threshold, sae.active_codes)
        network.load_state_dict({name: torch.from_numpy(array) for name, array in saved.weights.items()})
        sae._attach(network.to(resolve_device(sae.device)))
        sae._generator = torch.Generator().manual_seed(int(sae.seed))
        sae._features = saved.modes.isel(mode=0, drop=True) if saved.labeled else None
        sae._attrs = saved.input_attrs
        sae.n_features_in_ = n_features
        sae.scale_, sae.r2_, sae.l0_, sae.n_iter_, sae.n_resampled_ = (saved.fitted[name] for name in FITTED_SCALARS)
        sae.history_ = saved.history
        sae.dead_modes_ = saved.dead_modes
        sae.modes_ = sae._label_modes()
        return sae


register_result_kind("sae", SAE)


def _simple_attrs(attrs: dict) -> dict:
    """The provenance attrs that survive JSON and netCDF: strings and plain numbers."""
    simple = {}
    for key, value in attrs.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            simple[str(key)] = value
    return simple


def _r2(x: np.ndarray, reconstruction: np.ndarray) -> float:
    x = x.astype(np.float64)
    residual = np.square(x - reconstruction).sum()
    total = np.square(x - x.mean(0)).sum()
    return float(1.0 - residual / total) if total > 0 else float("nan")
