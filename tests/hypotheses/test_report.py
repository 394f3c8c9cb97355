"""Hypotheses in words: the intervention, drug, cell types and outcome, checked sentence by sentence."""

import numpy as np

import retinacodec.hypotheses as hyp
from retinacodec.hypotheses.effects import by_type, categories
from retinacodec.hypotheses.report import spoken_list
from retinacodec.stimuli import natural_jitter

from .helpers import records


def test_markdown_says_the_intervention_drug_cell_types_and_outcome_in_words(retina):
    stimulus = natural_jitter(n_frames=900, seed=31, progress=False)
    types = tuple(dict.fromkeys(str(t) for t in retina.cells["cell_type"].values))
    effect = np.array([{"oms": 2.0, "on_off": 0.8}.get(t, 0.0) for t in types])  # the cells it reaches
    hand = records(
        predicted=[effect],
        observed=[effect],
        confidence=[0.8],
        shuffled=[[effect]],
        types=types,
        per_type=5,
        baseline=5.0,
    )
    hand = hand.drop_vars(["observed_change", "observed_baseline_rate"]).assign(
        layer=("hypothesis", ["amacrine"]),
        reason=("hypothesis", ["mode most tied to OMS cells (r = 0.61)"]),
        modes=("hypothesis", ["3, 7"]),
        channels=("hypothesis", ["2, 5"]),
        pathway_name=("hypothesis", ["wide-field amacrine"]),
        drug=("hypothesis", ["picrotoxin"]),
        drug_also_blocks=("hypothesis", [""]),
        match_r=("hypothesis", [0.8]),
    )
    hand = hand.assign(
        predicted_effect=by_type(hand["predicted_change"]),
        predicted_category=categories(hand["predicted_change"], hand["baseline_rate"], 60.0, 2.0),
    )
    hand.attrs["stimulus"] = "natural_jitter"
    text = hyp.to_markdown(hand)
    assert text.startswith(
        "1. Blocking the wide-field amacrine pathway (picrotoxin) should raise the OMS cells' "
        "rates by ~2.0 Hz (+40%) and raise the ON-OFF cells' rates by ~0.8 Hz (+16%) under "
        "natural jitter; confidence 0.80."
    )
    assert "channels 2, 5 of layer amacrine" in text and "mode most tied to OMS cells" in text
    tested = hyp.test(hand, retina, stimulus, progress=False)
    text = hyp.to_markdown(tested)
    assert "*Virtual retina:* ON-OFF +" in text and ", OMS +" in text and "**confirmed**" in text
    assert "Recovery score 1.00" in text


def test_lists_of_effects_and_cell_types_read_as_in_a_sentence():
    assert spoken_list([]) == ""
    assert spoken_list(["ON"]) == "ON"
    assert spoken_list(["ON", "OFF"]) == "ON and OFF"
    assert spoken_list(name for name in ("ON", "OFF", "ON-OFF")) == "ON, OFF and ON-OFF"


def test_markdown_names_the_runner_up_pathway_by_the_rule_that_matched():
    hand = records(predicted=[[0, 0, 2]], observed=[[0, 0, 2]], confidence=[0.6], shuffled=[[[0, 0, 0]]])
    hand = (
        hand.drop_vars(["observed_change", "observed_baseline_rate"])
        .assign_coords(pathway=["amacrine_wide", "amacrine_narrow", "bipolar_on_sustained"])
        .assign(
            layer=("hypothesis", ["amacrine"]),
            reason=("hypothesis", ["used"]),
            modes=("hypothesis", ["1"]),
            channels=("hypothesis", ["4"]),
            pathway_name=("hypothesis", ["wide-field amacrine"]),
            drug=("hypothesis", ["picrotoxin"]),
            drug_also_blocks=("hypothesis", [""]),
            match_r=("hypothesis", [0.5]),
            pathway_block_correlation=(("hypothesis", "pathway"), [[0.5, 0.1, 0.3]]),
            pathway_correlation=(("hypothesis", "pathway"), [[0.7, 0.9, 0.2]]),
        )
    )
    hand = hand.assign(
        predicted_effect=by_type(hand["predicted_change"]),
        predicted_category=categories(hand["predicted_change"], hand["baseline_rate"], 60.0, 2.0),
    )
    hand.attrs.update(stimulus="natural_jitter", match_rule="block")
    assert "activity match r = 0.50 (next: ON sustained bipolar, r = 0.30)" in hyp.to_markdown(hand)
    hand.attrs["match_rule"] = "correlation"
    assert "(next: narrow-field amacrine, r = 0.90)" in hyp.to_markdown(hand)
