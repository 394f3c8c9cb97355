"""Figures of the reference code's control curves, from a synthetic summary."""

from __future__ import annotations

import numpy as np
import xarray as xr

from retinacodec.control.curves.reference import PCTS, ratio_summary
from retinacodec.plots import save_figure
from retinacodec.plots.reference_curves import plot_layer_scores, plot_ratio_curves


def _summary(drop: float) -> xr.Dataset:
    rng = np.random.default_rng(0)
    noise = 0.05 * rng.standard_normal((3, 2, 9, 4, 2))
    accuracy = np.clip(0.8 - drop * np.array(PCTS)[:, None, None] / 100 + noise, 0, 1)
    curves = xr.Dataset(
        {
            "accuracy": (("selection", "intervention", "pct", "trial", "role"), accuracy),
            "original": (("pct", "trial", "role"), np.full((9, 4, 2), 0.8)),
            "n_channels": ("pct", [int(40 * p / 100) for p in PCTS]),
        },
        coords={
            "selection": ["contribution", "activation", "random"],
            "intervention": ["ablate", "preserve"],
            "pct": list(PCTS),
            "role": ["target", "off_target"],
        },
        attrs={"n_channels_layer": 40},
    )
    return ratio_summary(curves, n_bootstrap=20)


def test_ratio_curves_and_layer_scores(tmp_path):
    summaries = {"block3": _summary(0.5), "head": _summary(0.2)}
    figure = plot_ratio_curves(summaries, "ablate")
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 2 and panels[0].get_title() == "block3 (40 channels)"
    assert len(panels[0].get_lines()) == 3 * 2 + 1  # target and off-target per selection, and the line at 1
    np.testing.assert_allclose(
        panels[1].get_lines()[0].get_ydata(),
        summaries["head"]["ratio_mean"].sel(selection="contribution", intervention="ablate", role="target"),
    )
    assert save_figure(figure, tmp_path / "curves.png").stat().st_size > 0
    scores = plot_layer_scores(summaries)
    assert [ax.get_title() for ax in scores.axes] == ["ablate", "preserve"]
    assert save_figure(scores, tmp_path / "scores.png").stat().st_size > 0
