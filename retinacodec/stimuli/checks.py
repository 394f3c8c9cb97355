"""Checks of the parameters every stimulus generator shares, and the provenance attrs it records.

Built on :mod:`retinacodec._validation`; generators call them first thing, so a bad recipe value
fails before any work is done.
"""

from __future__ import annotations

from .._validation import check_allocation, check_int, check_number


def check_contrast(value, *, signed: bool = False) -> float:
    """Return a contrast amplitude: in [0, 1], or in [-1, 1] when ``signed``.

    Parameters
    ----------
    value : object
        Candidate contrast (Weber contrast relative to the mean luminance).
    signed : bool
        Whether a negative (dark) contrast is meaningful for this generator.

    Returns
    -------
    float
        The contrast.
    """
    return check_number("contrast", value, minimum=-1.0 if signed else 0.0, maximum=1.0)


def check_frame_grid(n_frames, size, frame_rate_hz) -> tuple[int, int, float]:
    """Check the three parameters every generator shares.

    Parameters
    ----------
    n_frames : object
        Number of frames, an integer >= 1.
    size : object
        Frame height and width in pixels, an integer >= 1.
    frame_rate_hz : object
        Frames per second, a positive number.

    Returns
    -------
    tuple of (int, int, float)
        ``(n_frames, size, frame_rate_hz)``.

    Raises
    ------
    RetinaCodecError
        If a value is invalid, or the float32 frames would not fit in the memory available.
    """
    checked = (
        check_int("n_frames", n_frames),
        check_int("size", size),
        check_number("frame_rate_hz", frame_rate_hz, strictly_above=0.0),
    )
    n_frames, size = checked[0], checked[1]
    check_allocation(n_frames * size * size, 4, f"a stimulus of {n_frames} frames of {size}x{size} px")
    return checked


def check_seed(seed) -> int:
    """Return ``seed`` if it is a non-negative integer (the seed of ``numpy.random.default_rng``)."""
    return check_int("seed", seed, minimum=0)


def provenance(**parameters) -> dict:
    """Attrs recording a generator's parameters and the package version.

    Parameters
    ----------
    **parameters
        The generator's parameters after validation (numbers, strings or sequences of them).

    Returns
    -------
    dict
        ``parameters`` with sequences turned into lists (netCDF stores them as arrays) plus
        ``retinacodec_version``.
    """
    from .. import __version__

    attrs = {key: list(value) if isinstance(value, (tuple, list)) else value for key, value in parameters.items()}
    attrs["retinacodec_version"] = __version__
    return attrs
