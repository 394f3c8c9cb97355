"""The hypotheses figure: one panel per hypothesis, the scores, and a layout that survives long labels."""

import warnings

import pytest
import xarray as xr

import retinacodec.hypotheses as hyp
from retinacodec.errors import RetinaCodecError
from retinacodec.hypotheses.effects import by_type
from retinacodec.plots import save_figure
from retinacodec.plots.hypotheses import plot_hypotheses

from ..hypotheses.helpers import records


def test_plot_shows_one_panel_per_hypothesis_and_the_scores(tmp_path):
    tested = hyp.score(
        records(
            predicted=[[-3, 3, 0], [0, 0, 3]],
            observed=[[-3, 0, 0], [0, 0, 3]],
            confidence=[0.5, 0.8],
            shuffled=[[[3, 0, 0], [0, 0, 0]]],
        )
    )
    tested = tested.assign(
        pathway_name=("hypothesis", ["ON sustained bipolar", "wide-field amacrine"]),
        drug=("hypothesis", ["L-AP4 or APB", "picrotoxin"]),
    )
    figure = plot_hypotheses(tested)
    assert len(figure.axes) == 3
    titles = " ".join(ax.get_title() for ax in figure.axes)
    assert "picrotoxin" in titles and "confirmed" in titles and "0.81 vs shuffled 0.00" in figure.get_suptitle()
    with pytest.raises(RetinaCodecError, match="generate"):
        plot_hypotheses(xr.Dataset())


def test_untested_predictions_of_a_recording_with_one_cell_type_draw_without_collapsed_axes(tmp_path):
    """A recording's cells have no types ("unknown"), and a set can list all 8 channels: the row
    labels are long and there is one column, which once left constrained layout no room."""
    untested = records(
        predicted=[[0.1], [-0.1]],
        observed=[[0], [0]],
        confidence=[0.72, 0.86],
        shuffled=[[[0], [0]]],
        types=("unknown",),
    ).drop_vars("observed_change")
    untested = untested.assign(
        predicted_effect=by_type(untested["predicted_change"]),
        channels=("hypothesis", ["0, 1, 2, 3, 4, 5, 6, 7", "0, 2, 3, 4, 5, 6"]),
    )
    figure = plot_hypotheses(untested)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constrained layout warns when the axes collapse
        assert save_figure(figure, tmp_path / "predictions.png").is_file()
    heat = figure.axes[0].get_position()  # laid out by the save
    assert heat.width > 0.2 and heat.height > 0.3  # the cells keep a fifth of the width and a third of the height
