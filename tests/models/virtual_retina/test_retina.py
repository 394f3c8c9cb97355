"""The virtual retina against analytic answers, the scipy reference, its own wiring table and the
retinal phenomena it is built to show (flash polarity, object-motion sensitivity, pharmacology)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special
import xarray as xr

import retinacodec
from retinacodec.errors import RetinaCodecError
from retinacodec.models.virtual_retina import DRUGS, VirtualRetina
from retinacodec.models.virtual_retina import retina as vr_module
from retinacodec.models.virtual_retina.filters import TemporalFilter, blur_matrix, lowpass, undershoot
from retinacodec.models.virtual_retina.params import VirtualRetinaParams
from retinacodec.models.virtual_retina.phenomena import oms_index
from retinacodec.stimuli.base import make_stimulus

# The wiring of VIRTUAL_RETINA.md written out by hand: which ganglion types each interneuron
# type reaches, directly or through amacrines / bipolar terminals.
FEEDS = {
    "bipolar_on_sustained": {"on", "off"},  # ON directly, OFF through the narrow amacrine
    "bipolar_off_sustained": {"off"},
    "bipolar_on_transient": {"on_off", "oms"},  # ON-OFF directly, OMS through the wide amacrine
    "bipolar_off_transient": {"on_off", "oms"},
    "amacrine_narrow": {"off"},
    "amacrine_wide": {"oms", "on_off"},  # OMS directly, ON-OFF through GABA-C on terminals
}
DRUG_FEEDS = {
    "L-AP4": {"on", "off", "on_off", "oms"},
    "strychnine": {"off"},
    "picrotoxin": {"oms", "on_off"},
    "gabazine": {"oms"},
    "TPMPA": {"on_off", "oms"},  # the OFF transient terminals also excite the OMS cell
}


@pytest.fixture(scope="module")
def retina() -> VirtualRetina:
    return VirtualRetina()


@pytest.fixture(scope="module")
def noise() -> xr.DataArray:
    """Binary checkerboard noise with 2 px checks (drives every pathway), 250 frames."""
    rng = np.random.default_rng(0)
    checks = rng.choice([-1.0, 1.0], size=(250, 25, 25))
    return make_stimulus(checks.repeat(2, axis=1).repeat(2, axis=2), kind="test_noise")


@pytest.fixture(scope="module")
def baseline(retina, noise) -> xr.Dataset:
    return retina.respond(noise, pathway_drive=True)


def full_field(levels: list[tuple[float, int]], size: int = 50) -> xr.DataArray:
    """Full-field steps: (contrast, frames) epochs."""
    values = np.concatenate([[c] * n for c, n in levels])
    return make_stimulus(np.broadcast_to(values[:, None, None], (len(values), size, size)), kind="test_flash")


# ---------------------------------------------------------------- filters: analytic answers
def test_lowpass_cascade_is_a_discrete_gamma():
    tau, n = 2.0, 3
    a = math.exp(-1 / tau)
    h = TemporalFilter("pr", lambda x: lowpass(x, tau, n)).impulse_response()
    k = np.arange(len(h))
    expected = scipy.special.comb(k + n - 1, n - 1) * (1 - a) ** n * a**k
    np.testing.assert_allclose(h, expected, atol=1e-12)
    assert h.sum() == pytest.approx(1.0, abs=1e-7)


def test_undershoot_step_settles_at_one_minus_weight():
    step = np.ones(400)
    y = undershoot(step, weight=0.3, tau_frames=20.0)
    assert y[0] == pytest.approx(1 - 0.3 * (1 - math.exp(-1 / 20)))
    assert y[-1] == pytest.approx(0.7, abs=1e-6)


def test_blur_matrix_matches_scipy_gaussian_filter():
    from scipy.ndimage import gaussian_filter1d

    column = np.random.default_rng(1).standard_normal(37)
    for sigmas in (0.5, (0.5, 0.75), 8.0):
        expected = column
        for s in np.atleast_1d(sigmas):
            expected = gaussian_filter1d(expected, s, mode="constant", truncate=4.0)
        np.testing.assert_allclose(blur_matrix(sigmas, 37) @ column, expected, atol=1e-12)


def test_linear_front_end_steady_state_matches_hand_computation(retina):
    """A long full-field step: every filter settles to its DC gain, so the sustained bipolar and
    transient release at the centre follow from the parameters by hand."""
    p = VirtualRetinaParams()
    c = 0.5
    act = retina.interneuron_activity(full_field([(c, 500)]), positions=[[25, 25]])
    outer = c * (1 - p.outer.center_undershoot_weight) * (1 - p.outer.surround_weight)
    sustained = p.bipolar.sustained_gain * (1 - p.bipolar.sustained_undershoot_weight) * outer
    transient = (1 - p.bipolar.transient_slow_weight) * outer
    release = scipy.special.expit(p.bipolar.transient_slope * (transient - p.bipolar.transient_threshold))
    last = act.isel(time=-1, position=0)
    assert float(last.sel(pathway="bipolar_on_sustained")) == pytest.approx(
        sustained + p.bipolar.sustained_baseline, rel=1e-4
    )
    assert float(last.sel(pathway="bipolar_off_sustained")) == 0.0
    # Full field: the wide amacrine's inhibition is what separates release from terminal output.
    wide = float(last.sel(pathway="amacrine_wide"))
    assert float(last.sel(pathway="bipolar_on_transient")) == pytest.approx(max(release - 0.1 * wide, 0.0), rel=1e-4)


# ---------------------------------------------------------------- fast path against the reference
def test_torch_backend_matches_scipy_reference_across_chunks(retina, noise, monkeypatch):
    monkeypatch.setattr(vr_module, "CHUNK_FRAMES", 64)  # several chunk seams in 250 frames
    fast = retina.respond(noise, pathway_drive=True, block="strychnine")
    plain = retina.respond(noise, pathway_drive=True, block="strychnine", backend="scipy")
    np.testing.assert_allclose(fast["rate"], plain["rate"], atol=1e-3)
    np.testing.assert_allclose(fast["drive"], plain["drive"], atol=1e-5)
    np.testing.assert_array_equal(fast["spikes"].shape, plain["spikes"].shape)
    assert float(plain["rate"].std()) > 1.0  # the comparison is not between flat lines


def test_generator_is_bias_plus_drive_and_rate_is_softplus(retina, baseline):
    p = retina.params
    bias = np.array([p.ganglion[t].bias for t in baseline["cell_type"].values])
    scale = np.array([p.ganglion[t].rate_scale_hz for t in baseline["cell_type"].values])
    generator = bias + baseline["drive"].sum("pathway").values
    np.testing.assert_allclose(baseline["generator"], generator, atol=1e-12)
    np.testing.assert_allclose(baseline["rate"], scale * np.log1p(np.exp(generator)), rtol=1e-10)
    # A pathway drives a cell only through a direct connection of the wiring table.
    direct = {(s, t) for s, t in zip(retina.connections["source"].values, retina.connections["target"].values)}
    for cell_type in ("on", "off", "on_off", "oms"):
        for pathway in retina.pathways:
            drive = baseline["drive"].where(baseline["cell_type"] == cell_type, drop=True).sel(pathway=pathway)
            assert bool((drive != 0).any()) == ((pathway, f"ganglion_{cell_type}") in direct)


def test_rates_are_varied_and_in_a_physiological_range(baseline):
    mean = baseline["rate"].isel(time=slice(50, None)).mean("time")
    assert float(mean.min()) > 1.0 and float(mean.max()) < 60.0
    per_type = baseline["rate"].groupby("cell_type").mean("cell")
    corr = np.corrcoef(per_type.transpose("cell_type", "time").values)
    assert np.abs(corr[np.triu_indices(4, 1)]).max() < 0.9  # the four types respond differently


# ---------------------------------------------------------------- the ground truth and blocks
@pytest.mark.parametrize("name", [*FEEDS, *DRUG_FEEDS])
def test_block_changes_exactly_the_cells_the_wiring_feeds(retina, noise, baseline, name):
    expected = FEEDS.get(name, DRUG_FEEDS.get(name))
    fed = retina.cells_fed_by(name)
    assert set(fed["cell_type"].values[fed.values]) == expected
    assert set(retina.cells["cell_type"].values[~fed.values]).isdisjoint(expected)
    blocked = retina.respond(noise, block=name)
    change = np.abs(blocked["rate"] - baseline["rate"]).max("time")
    assert (change.values[fed.values] > 0.1).all()
    assert (change.values[~fed.values] == 0.0).all()
    assert blocked.attrs["block"] == name


def test_blocking_each_connection_to_a_ganglion_changes_only_that_type(retina, noise, baseline):
    for name, target in zip(retina.connections["connection"].values, retina.connections["target"].values):
        if not target.startswith("ganglion_"):
            continue
        change = np.abs(retina.respond(noise, block=name)["rate"] - baseline["rate"]).max("time")
        is_target = baseline["cell_type"].values == target.removeprefix("ganglion_")
        assert (change.values[is_target] > 0.1).all(), name
        assert (change.values[~is_target] == 0.0).all(), name


def test_scale_zero_equals_block_and_scale_two_strengthens(retina, noise, baseline):
    blocked = retina.respond(noise, block="amacrine_narrow")
    scaled = retina.respond(noise, scale={"amacrine_narrow": 0.0})
    np.testing.assert_array_equal(blocked["rate"], scaled["rate"])
    doubled = retina.respond(noise, scale={"amacrine_narrow->ganglion_off": 2.0}, pathway_drive=True)
    np.testing.assert_allclose(
        doubled["drive"].sel(pathway="amacrine_narrow"),
        2 * baseline["drive"].sel(pathway="amacrine_narrow"),
        atol=1e-12,
    )


def test_connections_table_and_drug_aliases(retina):
    conns = retina.connections
    assert set(conns.data_vars) == {"source", "target", "sign", "weight"}
    row = conns.sel(connection="amacrine_wide->ganglion_oms")
    assert int(row["sign"]) == -1 and float(row["weight"]) > 0
    assert int(conns.sel(connection="bipolar_on_sustained->ganglion_on")["sign"]) == 1
    assert set(retina.resolve("TPMPA")) == set(DRUGS["TPMPA"])
    assert set(retina.resolve("L-AP4")) == {
        n for n in conns["connection"].values if n.startswith(("bipolar_on_sustained", "bipolar_on_transient"))
    }


# ---------------------------------------------------------------- phenomena
@pytest.fixture(scope="module")
def flash(retina):
    stim = full_field([(0.0, 60), (1.0, 60), (0.0, 60), (-1.0, 60)])
    return {block: retina.respond(stim, block=block)["rate"] for block in (None, "L-AP4")}


def onset_response(rate: xr.DataArray, onset: int, window: int = 30) -> xr.DataArray:
    before = rate.isel(time=slice(onset - 20, onset)).mean("time")
    return rate.isel(time=slice(onset, onset + window)).mean("time") - before


def test_flash_polarity(flash):
    light, dark = onset_response(flash[None], 60), onset_response(flash[None], 180)
    by_type = lambda r, t: r.values[r["cell_type"].values == t]
    assert (by_type(light, "on") > 10).all() and (by_type(dark, "on") < 0).all()
    assert (by_type(dark, "off") > 10).all() and (by_type(light, "off") < 0).all()
    assert (by_type(light, "on_off") > 3).all() and (by_type(dark, "on_off") > 3).all()


def test_lap4_removes_on_responses_and_keeps_off(flash):
    light = onset_response(flash["L-AP4"], 60)
    dark, dark_control = onset_response(flash["L-AP4"], 180), onset_response(flash[None], 180)
    on = light["cell_type"].values == "on"
    off = light["cell_type"].values == "off"
    np.testing.assert_allclose(light.values[on], 0.0, atol=1e-9)
    np.testing.assert_allclose(dark.values[off], dark_control.values[off], rtol=0.1)
    assert (flash["L-AP4"].values[:, on] == flash["L-AP4"].values[0, on]).all()


@pytest.fixture(scope="module")
def oms(retina):
    return {block: oms_index(retina, block=block, n_frames=300, seed=1) for block in (None, "picrotoxin")}


def test_oms_cell_prefers_differential_motion(oms):
    index = oms[None]
    central = index.where(index["distance_px"] < 3, drop=True)
    types = central["cell_type"].values
    assert set(types) == {"on", "off", "on_off", "oms"}
    assert (central.values[types == "oms"] > 0.25).all()
    assert (np.abs(central.values[types != "oms"]) < 0.05).all()


def test_wide_field_block_abolishes_object_motion_sensitivity(oms):
    index = oms["picrotoxin"]
    central = index.where(index["distance_px"] < 3, drop=True)
    assert (np.abs(central.values) < 0.05).all()


# ---------------------------------------------------------------- labels, seeds, parameters
def test_labels_and_provenance(retina, baseline, noise):
    assert baseline["rate"].dims == ("time", "cell")
    assert baseline["drive"].dims == ("time", "cell", "pathway")
    np.testing.assert_array_equal(baseline["time"], noise["time"])
    cells = retina.cells
    np.testing.assert_array_equal(baseline["y"], cells["y"])
    assert list(baseline["pathway"].values) == list(retina.pathways)
    assert baseline.attrs["retinacodec_version"] == retinacodec.__version__
    assert baseline.attrs["block"] == "none" and baseline["rate"].attrs["units"] == "Hz"
    for cell_type in ("on", "off", "on_off", "oms"):
        assert 4 <= int((cells["cell_type"] == cell_type).sum()) <= 6
    # Every receptive field lies inside the 26 x 26 output map (pixels 12..37) of a CNN with
    # valid 15 + 11 px convolutions, with room for two sigmas of its pooling.
    assert int(cells["y"].min()) >= 16 and int(cells["y"].max()) <= 33
    assert int(cells["x"].min()) >= 16 and int(cells["x"].max()) <= 33


def test_spikes_are_seeded_poisson_counts(retina, noise):
    a = retina.respond(noise, seed=3)
    b = retina.respond(noise, seed=3)
    c = retina.respond(noise, seed=4)
    np.testing.assert_array_equal(a["spikes"], b["spikes"])
    assert not np.array_equal(a["spikes"], c["spikes"])
    expected = float(a["rate"].sum()) / 100.0
    assert abs(int(a["spikes"].sum()) - expected) < 5 * math.sqrt(expected)


def test_interneuron_activity_maps_and_positions_agree(retina, noise):
    short = noise.isel(time=slice(0, 80))
    maps = retina.interneuron_activity(short)
    points = retina.interneuron_activity(short, positions=np.array([[25, 25], [10, 40]]))
    assert maps.dims == ("time", "pathway", "y", "x")
    np.testing.assert_array_equal(points.isel(position=1).values, maps.sel(y=10, x=40).values)
    assert float(maps.min()) >= 0.0  # rectified releases and amacrine outputs


def test_parameters_round_trip_through_a_plain_mapping(retina, noise):
    mapping = retina.to_dict()

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return isinstance(value, (int, float, str))

    assert plain(mapping)
    rebuilt = VirtualRetina.from_dict(mapping)
    short = noise.isel(time=slice(0, 60))
    np.testing.assert_array_equal(rebuilt.respond(short)["rate"], retina.respond(short)["rate"])
    mapping["outer"]["surround_weight"] = 0.2
    changed = VirtualRetina.from_dict(mapping)
    assert changed.params.outer.surround_weight == 0.2
    assert not np.array_equal(changed.respond(short)["rate"], retina.respond(short)["rate"])


# ---------------------------------------------------------------- bad input
def test_bad_inputs_raise(retina, noise):
    nan = noise.copy()
    nan.values[3, 4, 5] = np.nan
    with pytest.raises(RetinaCodecError, match="NaN"):
        retina.respond(nan)
    with pytest.raises(RetinaCodecError, match="dims"):
        retina.respond(noise.isel(time=0))
    slow = noise.copy()
    slow.attrs["frame_rate_hz"] = 60.0
    with pytest.raises(RetinaCodecError, match="100 Hz"):
        retina.respond(slow)
    with pytest.raises(RetinaCodecError, match="amacrine_wide"):  # lists the valid names
        retina.respond(noise, block="muscimol")
    with pytest.raises(RetinaCodecError, match="outside"):
        retina.respond(noise.isel(y=slice(0, 20), x=slice(0, 20)))
    with pytest.raises(RetinaCodecError, match="scale factor"):
        retina.respond(noise, scale={"amacrine_wide": float("nan")})
    with pytest.raises(RetinaCodecError, match="backend"):
        retina.respond(noise, backend="jax")
    with pytest.raises(RetinaCodecError, match="seed"):
        retina.respond(noise, seed=-1)
    with pytest.raises(RetinaCodecError, match="unknown key"):
        VirtualRetina.from_dict({"outer": {"surround_weigth": 0.5}})
    with pytest.raises(RetinaCodecError, match="positions"):
        retina.interneuron_activity(noise, positions=[[1.5, 2.0]])


def test_plot_phenomena_draws_flash_and_oms_panels(retina, oms, tmp_path):
    from matplotlib.figure import Figure

    from retinacodec.models.virtual_retina.phenomena import flash_response
    from retinacodec.plots import save_figure
    from retinacodec.plots.virtual_retina import plot_phenomena

    flash = flash_response(retina)
    fig = plot_phenomena(flash, oms[None], oms["picrotoxin"])
    assert isinstance(fig, Figure) and len(fig.axes) == 5
    bars = [p.get_height() for p in fig.axes[4].patches]
    oms_central = oms[None].where((oms[None]["distance_px"] <= 3) & (oms[None]["cell_type"] == "oms"), drop=True)
    assert bars[3] == pytest.approx(float(oms_central.mean()))  # control bars come first
    assert save_figure(fig, tmp_path / "phenomena.png").stat().st_size > 0
    with pytest.raises(RetinaCodecError, match="flash_response"):
        plot_phenomena(flash.drop_vars("epoch"), oms[None])
