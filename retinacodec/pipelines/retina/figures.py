"""The demo's figures, drawn from the steps' results with the package's plot functions."""

from __future__ import annotations

from pathlib import Path

from ...plots import save_figure
from ...plots.contributions import plot_contributions
from ...plots.control import plot_control_curves
from ...plots.designs import designed_stimuli_figure
from ...plots.hypotheses import plot_hypotheses
from ...plots.irf import plot_irf
from ...plots.irf_courses import plot_irf_courses
from ...plots.model_fit import plot_model_fit
from ...plots.modes import plot_dimensions, plot_modes, plot_sparsity, plot_stability
from ...plots.phenomena import plot_phenomena
from ...plots.preferred import preferred_stimuli_figure


def irf_figures(irf) -> dict:
    """IRF figures that fit the stimulus: on full-field (1 x 1 px) frames, the time courses of every
    IRF cell by mode and by time (``irf_courses``); on a movie, one map figure per cell (``irf_cell<N>``)."""
    max_modes = int(irf.sizes.get("rank", 4))
    if irf.sizes["y"] * irf.sizes["x"] == 1:
        return {"irf_courses": plot_irf_courses(irf, max_modes=max_modes)}
    return {f"irf_cell{int(cell)}": plot_irf(irf, cell=int(cell), max_modes=max_modes) for cell in irf["cell"].values}


def draw_figures(found: dict, folder: Path, layers: tuple[str, ...], title: str) -> dict[str, str]:
    """Write every figure of a demo run into ``folder``.

    Parameters
    ----------
    found : dict
        Every step's outputs by name.
    folder : pathlib.Path
        Output folder.
    layers : tuple of str
        The layers analysed.
    title : str
        Title of the model-fit figure (what was fitted).

    Returns
    -------
    dict
        Figure key -> file name relative to ``folder``.
    """
    fit = found["fit"]
    irf = found["irf"]
    first_cell = int(irf["cell"].values[0])
    figures = {
        "model_fit": plot_model_fit(fit["predicted"], fit["true"], title=title, baseline=fit.get("ln_predicted")),
        "contributions": plot_contributions(found[f"contributions_{layers[-1]}"], select={"cell": first_cell}),
        **{
            f"modes_{layer}": plot_modes(found[f"sae_{layer}"], found[f"modes_{layer}"]["loadings"]) for layer in layers
        },
        "stability": plot_stability(
            {
                f"{layer} {variable}": found[f"modes{suffix}_{layer}"]
                for layer in layers
                for variable, suffix in (("contribution", ""), ("activation", "_activation"))
            }
        ),
        "sparsity": plot_sparsity(found["sparsity"]),
        "dimensions": plot_dimensions(found["dimensions"]),
        **irf_figures(irf),
        **{f"control_{layer}": plot_control_curves(found[f"control_{layer}"]) for layer in layers},
        "hypotheses": plot_hypotheses(found["hypotheses"], found.get("hypotheses_activation")),
    }
    preferred = [key for key in found if key.startswith("preferred_cell")]
    figures |= {key: preferred_stimuli_figure(found[key], found[key]) for key in preferred}
    if "test_stimuli" in found:
        figures["test_stimuli"] = designed_stimuli_figure(found["test_stimuli"], found["hypotheses"])
    if "phenomena" in found:
        figures["phenomena"] = plot_phenomena(found["phenomena"], found.get("phenomena_checked"))
    for key, figure in figures.items():
        save_figure(figure, folder / f"{key}.png")
    return {key: f"{key}.png" for key in figures}
