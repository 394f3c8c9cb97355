"""analyses/retina_replicates.py: intervals over seeds, the results page's section and the figure (on made-up
runs)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

SCRIPT = Path(__file__).resolve().parents[2] / "analyses" / "retina_replicates.py"


@pytest.fixture(scope="module")
def replicates():
    spec = importlib.util.spec_from_file_location("retina_replicates", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_interval_is_the_t_interval_of_the_mean(replicates):
    values = [0.78, 0.54, 0.61, 0.70]
    band = replicates.interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert band["mean"] == pytest.approx(np.mean(values)) and band["n"] == 4
    assert (band["low"], band["high"]) == pytest.approx((low, high))
    assert np.isnan(replicates.interval([0.5])["low"])


def test_the_section_and_figure_come_from_the_runs(replicates, monkeypatch, tmp_path):
    runs = {9200: 0.54, 9300: 0.70}

    def fake_demo(folder, model, settings, progress, log):
        assert model == "my_model"
        folder.mkdir(parents=True)
        summary = {key: 0.1 for key in replicates.QUANTITIES} | {"recovery_score": runs[settings.seed]}
        for layer in ("bipolar", "amacrine"):
            contribution = 0.05 if settings.seed == 9200 else 0.01  # below activation at one seed
            summary[f"control_specificity_{layer}"] = {
                intervention: {"contribution": contribution, "activation": 0.03, "random": 0.0}
                for intervention in ("ablate", "preserve")
            }
        (folder / "summary.json").write_text(json.dumps(summary))
        return folder / "report.md"

    def fake_retest(folder, settings, test_seeds, frames, model):
        assert folder == tmp_path / "seed_9200" and settings.seed == 9200 and test_seeds == [9202, 9302]
        return {
            "seed": settings.seed,
            "test_seeds": test_seeds,
            "frames": {str(n): {"scores": [0.5, 0.7], "interval": replicates.interval([0.5, 0.7])} for n in frames},
        }

    monkeypatch.setattr(replicates, "run_demo", fake_demo)
    monkeypatch.setattr(replicates, "retest", fake_retest)
    result = replicates.replicate(tmp_path, list(runs), "my_model")
    assert result["intervals"]["recovery_score"]["mean"] == pytest.approx(0.62)
    assert result["differences"]["modes - shuffled"]["mean"] == pytest.approx(0.52)
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["seeds"] == [9200, 9300] and written["model"] == "my_model"
    text = replicates.section(result, "docs/figures/x.png")
    assert "| recovery score (contribution modes) | 0.62 [" in text and "| 0.54, 0.70 |" in text
    assert "9200, 9300" in text and "(docs/figures/x.png)" in text
    assert written["machine"]["torch"] == torch.__version__
    assert f"machine: {written['machine']['cpu']} ({written['machine']['cpu_capability']})" in text
    assert "| 20 s of natural jitter | 0.60 [" in text and "| 60 s of natural jitter (the demo's) | 0.60 [" in text
    assert "seed-9200 run" in text and "| 0.50, 0.70 |" in text
    assert "| control specificity, bipolar ablate, contribution modes | +0.030 [" in text
    assert "| +0.050, +0.010 |" in text
    assert "| difference, control specificity, amacrine preserve: modes - activation (paired) | +0.000 [" in text
    assert "activation modes (paired interval above 0) in none of the 4 layer and intervention pairs" in text
    figure = replicates.plot(result, tmp_path / "replicates.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "How much of the spread is the SAE's fit" not in text

    def fake_spread(folder, settings, n_fits, model):
        assert folder == tmp_path / "again" / f"seed_{settings.seed}" and n_fits == 3 and model == "my_model"
        single = runs[settings.seed]
        return {
            "single": single,
            "mean_over_fits": single + 0.01,
            "spread": 0.1,
            "consensus_score": single + 0.05,
            "pathways_single": 2,
            "pathways_consensus": 3,
        }

    monkeypatch.setattr(replicates, "sae_spread", fake_spread)
    monkeypatch.setattr(
        replicates,
        "retest",
        lambda folder, settings, test_seeds, frames, model: fake_retest(
            tmp_path / "seed_9200", settings, test_seeds, frames, model
        ),
    )
    again = replicates.replicate(tmp_path / "again", list(runs), "my_model", sae_fits=3)
    assert again["sae_fits"]["consensus - single"]["mean"] == pytest.approx(0.05)
    text = replicates.section(again, "docs/figures/x.png")
    assert "refitted with 2 more SAE seeds" in text
    assert "| recovery score, consensus of the SAE fits | 0.67 [" in text and "| 0.59, 0.75 |" in text
    assert "| difference, consensus - the demo's own fit (paired) | +0.05 [" in text

    page = tmp_path / "docs" / "results" / "replicates.md"
    page.parent.mkdir(parents=True)
    page.write_text("# Replicates\n<!-- retina-replicates:begin -->\nstale\n<!-- retina-replicates:end -->\n")
    figures = tmp_path / "docs" / "figures"
    figures.mkdir()
    monkeypatch.setattr(replicates, "replicate", lambda *args: pytest.fail("--redraw must run nothing"))
    redraw = ["-o", str(tmp_path / "again"), "--redraw", "--page", str(page), "--figures", str(figures)]
    assert replicates.main(redraw) == 0
    assert replicates.section(again, "../figures/retina_replicates.png") in page.read_text()  # linked from the page
    assert page.read_text().startswith("# Replicates\n")
    assert (figures / "retina_replicates.png").read_bytes()[:4] == b"\x89PNG"
    assert replicates.main(["-o", str(tmp_path / "nothing"), "--redraw", "--page", str(page)]) == 2


def record(layer, block, channels, match_r=0.5, agreement=1.0, confidence=0.5, outcome="confirmed"):
    return {
        "layer": layer,
        "block": block,
        "channels": channels,
        "match_r": match_r,
        "outcome": outcome,
        "type_agreement": agreement,
        "confidence": confidence,
    }


def test_the_consensus_keeps_what_half_the_fits_name_with_their_most_chosen_set(replicates):
    fits = [
        [record("bipolar", "on", "3"), record("bipolar", "off", "0, 4"), record("amacrine", "on", "6", 0.4)],
        [record("bipolar", "on", "3"), record("bipolar", "off", "0"), record("amacrine", "on", "3, 6", 0.6)],
        [
            record("bipolar", "on", "3, 5"),
            record("bipolar", "off", "0, 4"),
            record("amacrine", "on", "6", 0.4),
            record("amacrine", "wide", "1"),
        ],
        [record("bipolar", "on", "3"), record("amacrine", "on", "3, 6", 0.6)],
    ]
    kept = {(r["layer"], r["block"]): r["channels"] for r in replicates.consensus(fits)}
    # named by 1 of 4 fits: dropped; by 3 or 4: kept, with the set chosen most often; amacrine ON has
    # "6" and "3, 6" twice each, and the tie goes to the set that follows the pathway more closely
    assert kept == {("bipolar", "on"): "3", ("bipolar", "off"): "0, 4", ("amacrine", "on"): "3, 6"}
    kept = {(r["layer"], r["block"]): r["channels"] for r in replicates.consensus(fits[2:])}
    assert kept[("amacrine", "wide")] == "1" and kept[("bipolar", "off")] == "0, 4"  # 1 of 2 fits is half
    # a block of a set's inhibitory outputs is another experiment than silencing it: counted apart
    release = dict(record("amacrine", "wide", "3, 6"), outputs="inhibitory")
    kept = replicates.consensus([[record("amacrine", "wide", "1"), release], [release], [release]])
    assert [(r["block"], r.get("outputs", "all"), r["channels"]) for r in kept] == [("wide", "inhibitory", "3, 6")]


def test_records_are_scored_as_the_library_scores_hypotheses(replicates):
    records = [
        record("bipolar", "on", "3", agreement=1.0, confidence=0.8),
        record("bipolar", "off", "1", agreement=0.25, confidence=0.4, outcome="partly confirmed"),
        record("amacrine", "on", "2", agreement=float("nan"), confidence=0.9, outcome="untested"),
    ]
    scored = replicates.score_records(records)
    assert scored["recovery"] == pytest.approx((0.8 * 1.0 + 0.4 * 0.25) / 1.2)
    assert scored["pathways"] == 1


def test_sae_refits_reuse_the_runs_own_fit_first_and_refit_with_spaced_seeds(replicates, monkeypatch, tmp_path):
    seeds_seen, read = [], []
    fits = {
        0: [record("bipolar", "on", "3", agreement=1.0)],
        9100 + replicates.SAE_SEED_STEP: [record("bipolar", "on", "3, 5", agreement=0.5)],
        9100 + 2 * replicates.SAE_SEED_STEP: [record("bipolar", "on", "3", agreement=1.0)],
    }

    def fake_fit(contributions, **kwargs):
        seeds_seen.append(kwargs["seed"])
        assert kwargs["stability_fits"] == 0 and kwargs["variable"] == "contribution"
        return None, {"fit": kwargs["seed"]}

    def fake_tested(network, stimulus, modes, settings, progress, retina, match):
        assert stimulus.attrs["seed"] == 9102 and match.attrs["seed"] == 9103
        key = modes["bipolar"]["fit"]
        return {"records": fits[key]}

    class Network:
        virtual_retina = None

    monkeypatch.setattr(replicates, "load", lambda model: Network())
    monkeypatch.setattr(replicates, "read_netcdf", lambda path: read.append(path.name) or {"fit": 0})
    monkeypatch.setattr(replicates, "fit_modes", fake_fit)
    monkeypatch.setattr(replicates, "tested_hypotheses", fake_tested)
    monkeypatch.setattr(replicates, "_records", lambda tested: tested["records"])
    monkeypatch.setattr(
        replicates, "natural_jitter", lambda n_frames, seed, progress: type("S", (), {"attrs": {"seed": seed}})()
    )
    spread = replicates.sae_spread(tmp_path, replicates.DemoSettings(seed=9100), 3)
    assert read[:2] == ["modes_bipolar.nc", "modes_amacrine.nc"]  # fit 0 is the run's own
    assert read[2:] == ["contributions_bipolar.nc", "contributions_amacrine.nc"]  # read once for both refits
    assert sorted(set(seeds_seen)) == [9100 + replicates.SAE_SEED_STEP, 9100 + 2 * replicates.SAE_SEED_STEP]
    assert [fit["recovery"] for fit in spread["fits"]] == [1.0, 0.5, 1.0]
    assert spread["single"] == 1.0 and spread["mean_over_fits"] == pytest.approx(2.5 / 3) and spread["spread"] == 0.5
    assert spread["consensus"]["hypotheses"][0]["channels"] == "3" and spread["consensus_score"] == 1.0
