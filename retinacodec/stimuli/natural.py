"""Natural images viewed with fixational eye movements: drift plus saccades.

The photographs are the two sample images shipped inside scikit-learn
(:func:`sklearn.datasets.load_sample_image`: ``china.jpg`` and ``flower.jpg``, 427 x 640 px), so
nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from .._progress import progress_bar
from .._validation import check_choice, check_number
from ..errors import RetinaCodecError
from ..io.cf import DIMENSIONLESS
from .base import DEFAULT_FRAME_RATE_HZ, DEFAULT_SIZE, make_stimulus
from .checks import check_contrast, check_frame_grid, check_seed, provenance

SAMPLE_IMAGES = ("china", "flower")
"""Names of the photographs (scikit-learn's sample images without the ``.jpg``)."""


@functools.cache
def contrast_image(name: str, scale: float) -> np.ndarray:
    """A sample photograph as contrast around its mean, low-pass filtered for sampling.

    Parameters
    ----------
    name : {"china", "flower"}
        Which photograph.
    scale : float
        Image pixels per stimulus pixel; the image is blurred with a Gaussian of standard
        deviation ``(scale - 1) / 2`` image px before it is sampled every ``scale`` px, so that
        downsampling does not alias (no blur when ``scale <= 1``).

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of shape (427, 640), dims (image row, image column), values in
        [-1, 1] with mean 0.

    Notes
    -----
    With :math:`L` the luma of ITU-R 601 (Pillow's ``"L"`` mode) and :math:`\\bar L` its mean
    over the image, the contrast is :math:`c = (L - \\bar L) / \\max |L - \\bar L|`: the mean
    luminance maps to 0 and the most extreme pixel to :math:`\\pm 1`, so no value is clipped.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_image

    luma = np.asarray(Image.fromarray(load_sample_image(f"{name}.jpg")).convert("L"), dtype=float)
    deviation = luma - luma.mean()
    image = deviation / np.abs(deviation).max()
    if scale > 1:
        image = ndimage.gaussian_filter(image, sigma=(scale - 1) / 2.0)
    image.setflags(write=False)
    return image


def gaze_bounds(image_shape: tuple[int, int], size: int, scale: float) -> np.ndarray:
    """Range of gaze positions that keep the whole window inside the image.

    Parameters
    ----------
    image_shape : tuple of int
        (rows, columns) of the image in image pixels.
    size : int
        Window height and width in stimulus pixels.
    scale : float
        Image pixels per stimulus pixel.

    Returns
    -------
    numpy.ndarray
        Array of shape (2, 2): rows (y, x), columns (lowest, highest) window centre in stimulus
        pixels (image pixels divided by ``scale``).
    """
    half = (size - 1) / 2.0
    highest = (np.asarray(image_shape, dtype=float) - 1) / scale - half
    if np.any(highest <= half):
        raise RetinaCodecError(
            f"a {size} px window at scale {scale:g} image px per px does not fit in an image of "
            f"{image_shape[0]} x {image_shape[1]} px; expected size * scale < "
            f"{min(image_shape) - 1}"
        )
    return np.stack([np.full(2, half), highest], axis=1)


def reflect(position: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Fold positions back into ``[low, high]`` by mirroring at the bounds.

    Parameters
    ----------
    position : numpy.ndarray
        Positions, shape (2,) for (y, x).
    bounds : numpy.ndarray
        (2, 2) array of (low, high) per axis, as from :func:`gaze_bounds`.

    Returns
    -------
    numpy.ndarray
        The reflected positions, same shape.
    """
    low, high = bounds[:, 0], bounds[:, 1]
    width = high - low
    folded = np.mod(position - low, 2 * width)
    return low + np.where(folded > width, 2 * width - folded, folded)


@dataclass(frozen=True)
class EyeMovements:
    """Fixational eye movements of :func:`natural_jitter`: drift plus saccades (see its Notes).

    Raises
    ------
    RetinaCodecError
        For a negative drift, rate or amplitude, or a switch probability outside [0, 1].
    """

    drift_std_px: float = 0.5
    """Standard deviation of the drift step along each axis, stimulus px per frame."""
    saccade_rate_hz: float = 1.0
    """Mean rate of saccades (a Poisson process), per second; 0 for drift only."""
    saccade_amplitude_px: float = 10.0
    """Length of a saccade within an image, stimulus px, in a uniformly random direction."""
    switch_probability: float = 0.25
    """Probability in [0, 1] that a saccade lands on another of the images, at a uniformly random
    position, instead of jumping within the current one."""

    def __post_init__(self) -> None:
        for name in ("drift_std_px", "saccade_rate_hz", "saccade_amplitude_px"):
            object.__setattr__(self, name, check_number(name, getattr(self, name), minimum=0.0))
        probability = check_number("switch_probability", self.switch_probability, minimum=0.0, maximum=1.0)
        object.__setattr__(self, "switch_probability", probability)

    @classmethod
    def coerce(cls, value: EyeMovements | Mapping[str, float]) -> EyeMovements:
        """``value`` as eye movements: itself, or built from a mapping of its fields (a recipe's
        ``[parameters.eye_movements]`` table).

        Raises
        ------
        RetinaCodecError
            For anything else, or a mapping with an unknown field.
        """
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise RetinaCodecError(f"eye_movements is {value!r}; expected EyeMovements(...) or a table of its fields")
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = [name for name in value if name not in known]
        if unknown:
            raise RetinaCodecError(
                f"unknown eye_movements field(s) {', '.join(map(repr, unknown))}; expected some of: {', '.join(known)}"
            )
        return cls(**value)


def _gaze_path(
    rng: np.random.Generator, n_frames: int, frame_rate_hz: float, bounds: list[np.ndarray], eyes: EyeMovements
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The gaze of :func:`natural_jitter`: (n_frames, 2) positions in stimulus px, the image index
    and the saccade flag per frame (the random process of its Notes)."""
    n_images = len(bounds)
    duration_s = n_frames / frame_rate_hz
    saccade_times = rng.uniform(0.0, duration_s, rng.poisson(eyes.saccade_rate_hz * duration_s))
    saccade = np.zeros(n_frames, dtype=bool)
    saccade[np.floor(saccade_times * frame_rate_hz).astype(int)] = True
    saccade[0] = False
    drift = rng.normal(0.0, eyes.drift_std_px, size=(n_frames, 2))
    angle = rng.uniform(0.0, 2 * np.pi, size=n_frames)
    switch = rng.random(n_frames) < eyes.switch_probability
    other_image = rng.integers(0, max(n_images - 1, 1), size=n_frames)
    landing = rng.random((n_frames, 2))

    def uniform_position(index: int, unit: np.ndarray) -> np.ndarray:
        low, high = bounds[index][:, 0], bounds[index][:, 1]
        return low + unit * (high - low)

    image_index = np.empty(n_frames, dtype=int)
    gaze = np.empty((n_frames, 2))
    image_index[0] = rng.integers(0, n_images)
    gaze[0] = uniform_position(image_index[0], rng.random(2))
    for t in range(1, n_frames):
        current = image_index[t - 1]
        if saccade[t] and switch[t] and n_images > 1:
            image_index[t] = (current + 1 + other_image[t]) % n_images
            gaze[t] = uniform_position(image_index[t], landing[t])
            continue
        step = drift[t]
        if saccade[t]:
            step = eyes.saccade_amplitude_px * np.array([np.sin(angle[t]), np.cos(angle[t])])
        image_index[t] = current
        gaze[t] = reflect(gaze[t - 1] + step, bounds[current])
    return gaze, image_index, saccade


def _window_frames(
    pictures: list[np.ndarray], gaze: np.ndarray, image_index: np.ndarray, size: int, scale: float, progress: bool
) -> np.ndarray:
    """float32 (n_frames, size, size) bilinear samples of the pictures around each gaze position."""
    offsets = np.arange(size) - (size - 1) / 2.0
    frames = np.empty((len(gaze), size, size), dtype=np.float32)
    for t in progress_bar(range(len(gaze)), desc="natural_jitter", unit="frame", progress=progress):
        rows = scale * (gaze[t, 0] + offsets)
        cols = scale * (gaze[t, 1] + offsets)
        grid = np.meshgrid(rows, cols, indexing="ij")
        frames[t] = ndimage.map_coordinates(pictures[image_index[t]], grid, order=1)
    return frames


def natural_jitter(
    *,
    n_frames: int = 3000,
    size: int = DEFAULT_SIZE,
    frame_rate_hz: float = DEFAULT_FRAME_RATE_HZ,
    images: Sequence[str] = SAMPLE_IMAGES,
    scale: float = 2.0,
    contrast: float = 1.0,
    eye_movements: EyeMovements | Mapping[str, float] = EyeMovements(),
    seed: int = 0,
    progress: bool = True,
) -> xr.DataArray:
    """Natural photographs seen through a window that drifts and saccades.

    Parameters
    ----------
    n_frames : int
        Number of frames.
    size : int
        Window height and width in stimulus pixels (1 px = 55 µm on the retina).
    frame_rate_hz : float
        Frames per second.
    images : sequence of {"china", "flower"}
        Photographs to look at (scikit-learn's sample images).
    scale : float
        Image pixels per stimulus pixel (2: the 50 px window shows 100 x 100 image px).
    contrast : float
        Peak contrast in [0, 1]: the image's most extreme pixel reaches ``±contrast``.
    eye_movements : EyeMovements or mapping
        Drift and saccades (``drift_std_px``, ``saccade_rate_hz``, ``saccade_amplitude_px``,
        ``switch_probability``; see :class:`EyeMovements`), or a mapping of some of those fields
        (the rest at their defaults).
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same frames.
    progress : bool
        Show a progress bar over frames.

    Returns
    -------
    xarray.DataArray
        float32 contrast in [-contrast, contrast], dims (time, y, x), with coords along time:
        ``gaze_y`` and ``gaze_x`` (window centre in the image, stimulus px, i.e. image px /
        ``scale``), ``image_index`` (index into ``attrs["images"]``) and ``saccade`` (True on
        the frame a saccade lands); the eye movements' fields are attrs of their own.

    Notes
    -----
    The gaze :math:`g_t` starts at a uniformly random position of a random image. On a frame
    without saccade :math:`g_{t} = g_{t-1} + \\epsilon_t`, :math:`\\epsilon_t \\sim
    \\mathcal N(0, \\sigma^2 I_2)` with :math:`\\sigma` = ``drift_std_px``. Saccade times are a
    Poisson process of rate :math:`\\lambda` = ``saccade_rate_hz`` (the count over the whole
    duration is Poisson, the times uniform), rounded down to frames; a saccade moves the gaze by
    ``saccade_amplitude_px`` at a uniform angle, or with probability ``switch_probability`` to
    a uniform position in another image. Positions are mirrored at the edges of the range that
    keeps the window inside the image. Pixel values are bilinear samples of
    :func:`contrast_image` at :math:`\\text{scale} \\cdot (g_t + k - (\\text{size}-1)/2)`,
    :math:`k = 0 \\ldots \\text{size}-1`.
    """
    n_frames, size, frame_rate_hz = check_frame_grid(n_frames, size, frame_rate_hz)
    if isinstance(images, str) or not isinstance(images, Sequence) or len(images) == 0:
        raise RetinaCodecError(f"images is {images!r}; expected a non-empty list of: {', '.join(SAMPLE_IMAGES)}")
    images = [check_choice("images", name, SAMPLE_IMAGES) for name in images]
    scale = check_number("scale", scale, strictly_above=0.0)
    contrast = check_contrast(contrast)
    eyes = EyeMovements.coerce(eye_movements)
    seed = check_seed(seed)

    pictures = [contrast_image(name, scale) for name in images]
    bounds = [gaze_bounds(picture.shape, size, scale) for picture in pictures]
    gaze, image_index, saccade = _gaze_path(np.random.default_rng(seed), n_frames, frame_rate_hz, bounds, eyes)
    frames = _window_frames(pictures, gaze, image_index, size, scale, progress)
    frames *= np.float32(contrast)

    stim = make_stimulus(
        frames,
        frame_rate_hz,
        kind="natural_jitter",
        **provenance(
            n_frames=n_frames,
            size=size,
            images=images,
            scale=scale,
            contrast=contrast,
            **dataclasses.asdict(eyes),
            seed=seed,
        ),
    )
    stim = stim.assign_coords(
        gaze_y=("time", gaze[:, 0]),
        gaze_x=("time", gaze[:, 1]),
        image_index=("time", image_index),
        saccade=("time", saccade),
    )
    for name in ("gaze_y", "gaze_x"):
        stim[name].attrs.update(units=DIMENSIONLESS, description="window centre in the image / scale (pixel)")
    return stim
