"""Settings of the demo pipeline: stimulus lengths, quadrature, SAE epochs, hypothesis controls."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import RetinaCodecError

LAYERS = ("bipolar", "amacrine")
"""The retina CNN's hidden layers, in the order of the network (the demo's default)."""


@dataclass(frozen=True)
class DemoSettings:
    """How much work each step of :func:`retinacodec.pipelines.retina.run.run_demo` does.

    The defaults fit the whole demo on the shipped model into a few minutes on 2 CPU cores;
    :meth:`fast` is a tiny variant for tests and smoke runs (numbers are then not meaningful).
    """

    layers: tuple[str, ...] = LAYERS
    """Layers whose contributions are decomposed (names or aliases the model's adapter knows)."""
    fit_frames: int = 2000
    """Frames of fresh natural jitter for the model-fit check (100 Hz: 2000 frames = 20 s)."""
    analysis_frames: int = 3000
    """Frames of natural jitter analysed (contributions, modes, IRFs, control; 30 s)."""
    analysis_windows: int = 100
    """Time points (windows) whose contributions are computed, x cells = SAE samples."""
    analysis_snippets: int = 10
    """Stretches of ``analysis_frames`` the time points are spread over (natural jitter holds
    still between saccades, so one short stretch shows little)."""
    ig_steps: int = 10
    """Gauss-Legendre nodes of the Integrated Gradients path."""
    sae_epochs: int = 60
    """Most SAE epochs per fit (early stopping may end sooner)."""
    sae_batch_size: int = 128
    """SAE samples per gradient step."""
    irf_cells: int = 4
    """Cells whose IRFs are decomposed by mode, and whose modes' preferred stimuli are found: the
    best-fit cell of each of the first types (4: one per type of the virtual retina)."""
    irf_times: int = 3
    """Time points per IRF cell."""
    irf_modes: int = 6
    """Most modes shown per IRF cell: its modes ranked by their share of its IRF, until they carry
    ``irf_min_share``; the rest is the residual."""
    irf_min_share: float = 0.5
    """Cumulative share of a cell's IRF (squared norm, pooled over its times) the shown modes reach."""
    irf_layer: str | None = None
    """Layer whose modes split the IRFs (one of ``layers``; None: the last of them)."""
    preferred_modes: int = 3
    """Most modes per IRF cell (its first modes by IRF share) whose preferred stimuli are computed,
    beside the cell's most exciting input."""
    control_channels: int = 8
    """Largest number k of a mode's top channels silenced (or kept alone) in the control curves
    (k = 1..control_channels, capped at the layer's channel count)."""
    control_draws: int = 20
    """Random channel sets per k in the control curves."""
    control_frames: int = 500
    """Frames (from the start of the analysed natural jitter) of the control experiment."""
    hypothesis_frames: int = 6000
    """Frames of natural jitter under which hypotheses are predicted and tested (60 s: as long as
    the recording whose standard errors decide what counts as a change, ``recording_s`` of
    :class:`~retinacodec.hypotheses.settings.HypothesisSettings`; on 20 s the same hypotheses' recovery score moved
    from 0.36 to 0.78 between stimuli)."""
    match_frames: int = 3000
    """Frames of held-out natural jitter on which channels are matched to pathways (30 s; shorter
    stretches of natural jitter can leave channels silent and the match unstable)."""
    max_hypotheses: int = 6
    """Most hypotheses per layer (whole-set ones; the inhibitory-output ones come beside them)."""
    inhibitory_outputs: bool = True
    """Also hypothesise that a set's inhibitory outputs stand for an inhibitory pathway, blocked
    only on the cells the set inhibits
    (``inhibitory`` of :class:`~retinacodec.hypotheses.settings.HypothesisSettings`)."""
    n_shuffles: int = 10
    """Shuffled mode-to-channel controls."""
    ceiling_channels: int = 2
    """Largest channel set tried for the per-pathway ceiling of the recovery score (a diagnostic)."""
    nwb_epochs: int = 4
    """Training epochs for a model of an NWB recording."""
    nwb_heldout_fraction: float = 0.25
    """Final fraction of an NWB recording kept out of training, for the fit check and analyses."""
    batch_size: int = 64
    """Network evaluations per batch in contributions and IRFs."""
    threads: int = 2
    """torch CPU threads of the demo's process (the same results to float rounding at any count);
    Dask workers use one each."""
    design_frames: int = 300
    """Frames of each hypothesis's designed test stimulus (3 s); it is compared with the first as
    many frames of the hypotheses' natural jitter."""
    design_steps: int = 40
    """Adam steps of each test stimulus's design (:class:`~retinacodec.hypotheses.optimise.DesignSettings`)."""
    phenomena_seeds: int = 5
    """Seeds over which each phenomenon-by-mode claim is tested on the virtual retina (the block test's
    object-motion jitter and flash spike trains; seed + 5, seed + 6, ...; seed + 4 is the CNN's
    object-motion stimulus)."""
    phenomena_oms_frames: int = 400
    """Frames of each object-motion stimulus of the phenomena (4 s; the first 50 are left out)."""
    seed: int = 9100
    """Seed of everything random; stimuli use seed, seed + 1, ... (fresh seeds, not training ones)."""

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type == "int" and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < 0
                or (value == 0 and field.name not in ("n_shuffles", "seed"))
            ):
                raise RetinaCodecError(f"demo setting {field.name} is {value!r}; expected a positive integer")
        for name in ("nwb_heldout_fraction", "irf_min_share"):
            value = getattr(self, name)
            top = 1.0 if name == "irf_min_share" else 1.0 - 1e-12
            if not (isinstance(value, (int, float)) and 0 < value <= top):
                raise RetinaCodecError(f"demo setting {name} is {value!r}; expected a number in (0, 1)")
        if not self.layers or not all(isinstance(layer, str) and layer for layer in self.layers):
            raise RetinaCodecError(f"demo setting layers is {self.layers!r}; expected one or more layer names")
        if self.design_frames > self.hypothesis_frames:
            raise RetinaCodecError(
                f"demo setting design_frames is {self.design_frames}; expected at most hypothesis_frames "
                f"({self.hypothesis_frames}), the natural jitter it is compared with"
            )
        if self.phenomena_oms_frames <= 50:
            raise RetinaCodecError(
                f"demo setting phenomena_oms_frames is {self.phenomena_oms_frames}; expected more than the 50 left out"
            )
        if self.irf_layer is not None and self.irf_layer not in self.layers:
            raise RetinaCodecError(
                f"demo setting irf_layer is {self.irf_layer!r}; expected one of the layers {', '.join(self.layers)}"
            )

    @classmethod
    def fast(cls) -> DemoSettings:
        """Tiny settings for tests: every step runs, in seconds, with meaningless numbers."""
        return cls(
            fit_frames=300,
            analysis_frames=200,
            analysis_windows=12,
            analysis_snippets=3,
            ig_steps=4,
            sae_epochs=4,
            sae_batch_size=32,
            irf_cells=1,
            irf_times=2,
            irf_modes=2,
            preferred_modes=1,
            control_frames=60,
            control_channels=3,
            control_draws=3,
            ceiling_channels=1,
            hypothesis_frames=200,
            match_frames=150,
            design_frames=60,
            design_steps=2,
            phenomena_seeds=2,
            phenomena_oms_frames=120,
            max_hypotheses=2,
            n_shuffles=2,
            nwb_epochs=1,
        )

    def to_dict(self) -> dict:
        """The settings as a plain mapping (for the manifest and the report)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Placement:
    """Where the demo's torch work runs; not part of a run's fingerprint (a run resumes under
    another placement), since it changes no result beyond float rounding on another device.

    Parameters
    ----------
    device : str
        Torch device of every step (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``).
    workers : int, optional
        Run the contributions on a local Dask cluster of this many single-threaded worker
        processes (one cluster for the whole run).
    scheduler : str, optional
        Run the contributions on the Dask cluster at this scheduler address instead.

    Raises
    ------
    RetinaCodecError
        For an unknown device, CUDA asked for without it, or bad cluster options.
    """

    device: str = "cpu"
    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        from ...device import resolve_device
        from ...parallel.cluster import check_cluster_options

        resolve_device(self.device)
        check_cluster_options(self.workers, self.scheduler)
