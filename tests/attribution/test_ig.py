"""Contributions: completeness, convergence orders, hand-computed cases, sign split, targets along
the path, labels and errors."""

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import retinacodec
from retinacodec.attribution.ig import contributions
from retinacodec.attribution.options import AttributionOptions
from retinacodec.attribution.quadrature import METHODS
from retinacodec.errors import RetinaCodecError
from retinacodec.targets import ClassLogit, TopLogit

QUIET = AttributionOptions(progress=False)
"""No progress bar."""

# steps each rule needs for 1e-4 relative completeness on the smooth test net (left/right: O(1/n))
STEPS = {
    "gausslegendre": 12,
    "riemann_trapezoid": 128,
    "riemann_middle": 128,
    "riemann_left": 8192,
    "riemann_right": 8192,
    "activation_trapezoid": 128,
}


def relative_completeness(ds: xr.Dataset) -> float:
    return float(np.max(np.abs(ds.completeness_error) / np.abs(ds.target_value - ds.baseline_value)))


@pytest.mark.parametrize("path", ["layer", "input"])
@pytest.mark.parametrize("method", [pytest.param(m, marks=pytest.mark.slow) if STEPS[m] > 1000 else m for m in METHODS])
def test_completeness_holds_for_every_rule_on_both_paths(smooth_convnet, images, path, method):
    ds = contributions(
        smooth_convnet,
        images,
        "1",
        TopLogit(),
        method=method,
        n_steps=STEPS[method],
        batch_size=8195,
        options=AttributionOptions(path=path, progress=False),
    )
    with torch.no_grad():
        output, start = smooth_convnet(images), smooth_convnet(torch.zeros_like(images))
    top = output.argmax(1, keepdim=True)
    assert np.allclose(ds.target_value, output.gather(1, top)[:, 0].numpy())
    assert np.allclose(ds.baseline_value, start.gather(1, top)[:, 0].numpy())
    assert relative_completeness(ds) < 1e-4


@pytest.mark.parametrize("path", ["layer", "input"])
@pytest.mark.parametrize(
    "method, order",
    [
        ("riemann_left", 1),
        ("riemann_right", 1),
        ("riemann_middle", 2),
        ("riemann_trapezoid", 2),
        ("activation_trapezoid", 2),
    ],
)
def test_completeness_error_falls_at_the_rule_s_order(smooth_convnet, images, path, method, order):
    """On the input path the error of the derivative estimate adds to the rule's (same order); the
    two partly cancel for the trapezoid rule up to about 32 steps, so the order is read beyond."""
    errors = [
        np.abs(
            contributions(
                smooth_convnet,
                images[:2],
                "1",
                ClassLogit(0),
                method=method,
                n_steps=n,
                batch_size=7,
                options=AttributionOptions(path=path, progress=False),
            ).completeness_error
        ).max()
        for n in (64, 128)
    ]
    assert errors[0] / errors[1] == pytest.approx(2**order, rel=0.15)


@pytest.mark.parametrize("path", ["layer", "input"])
def test_gauss_legendre_converges_spectrally(smooth_convnet, images, path):
    coarse, fine = (
        relative_completeness(
            contributions(
                smooth_convnet,
                images,
                "2",
                ClassLogit(1),
                n_steps=n,
                options=AttributionOptions(path=path, progress=False),
            )
        )
        for n in (4, 12)
    )
    assert fine < 1e-9 and coarse > 10 * fine


def linear_net() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 3)).double()


@pytest.mark.parametrize("path", ["layer", "input"])
def test_linear_network_contributions_are_activation_change_times_weight(path):
    """f = W2 (W1 x + b1) + b2: the contribution of hidden unit c to class k is (a_c - a0_c) W2[k, c],
    exactly, with any rule (even one left-Riemann step)."""
    net = linear_net()
    x = torch.randn(3, 4, dtype=torch.float64)
    w1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    w2 = net[1].weight.detach().numpy()
    a, a0 = x.numpy() @ w1.T + b1, b1  # zero baseline
    ds = contributions(
        net,
        x,
        "0",
        [ClassLogit(0), ClassLogit(2)],
        method="riemann_left",
        n_steps=1,
        options=AttributionOptions(path=path, progress=False),
    )
    assert ds.indexes["sample"].names == ["image", "target"]
    for k in (0, 2):
        found = ds.contribution.sel(target=f"class:{k}").values
        assert np.allclose(found, (a - a0) * w2[k], rtol=1e-12, atol=1e-14)
    assert np.abs(ds.completeness_error).max() < 1e-12


def relu_net() -> nn.Sequential:
    """f(x) = v . relu(W x + b) with kinks of the hidden units at alpha = 1/4 and 1/2 on the path
    from 0 to x = (1, 1): pre-activations z(alpha) = b + alpha W x = (-1 + 4 alpha, 1 - 2 alpha,
    0.5 + alpha)."""
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[4.0, 0.0], [-1.0, -1.0], [0.5, 0.5]], dtype=torch.float64))
        net[0].bias.copy_(torch.tensor([-1.0, 1.0, 0.5], dtype=torch.float64))
        net[2].weight.copy_(torch.tensor([[1.5, -2.0, 0.7]], dtype=torch.float64))
        net[2].bias.zero_()
    return net


@pytest.mark.parametrize("path", ["layer", "input"])
def test_relu_network_matches_the_hand_computed_integral(path):
    """IG of hidden pre-activation j = dz_j * v_j * (fraction of the path where unit j is on):
    fractions 3/4, 1/2 and 1, so IG = (4 * 1.5 * 3/4, -2 * -2 * 1/2, 1 * 0.7 * 1) = (4.5, 2, 0.7).
    The midpoint rule with 8 nodes puts no node on a kink and is exact here."""
    ds = contributions(
        relu_net(),
        torch.ones(1, 2, dtype=torch.float64),
        "0",
        ClassLogit(0),
        method="riemann_middle",
        n_steps=8,
        batch_size=3,
        options=AttributionOptions(path=path, progress=False),
    )
    assert np.allclose(ds.contribution.values[0], [4.5, 2.0, 0.7], rtol=1e-12)
    assert ds.target_value.item() == pytest.approx(1.5 * 3 + 0.7 * 1.5)
    assert ds.baseline_value.item() == pytest.approx(-2.0 * 1 + 0.7 * 0.5)
    assert ds.completeness_error.item() == pytest.approx(0, abs=1e-12)


def reference_trapezoid(net: nn.Module, x: torch.Tensor, layer: int, k: int, n: int) -> np.ndarray:
    """bscope's hidden-layer rule by hand: points x_i = (i / n) x, a_i the layer output there, g_i
    the gradient of logit k with respect to it; sum_i (g[i-1] + g[i]) / 2 * (a[i] - a[i-1]),
    summed over space, per channel (N, C)."""
    below, above = net[: layer + 1], net[layer + 1 :]
    acts, grads = [], []
    for i in range(n + 1):
        a = below(i / n * x).detach().requires_grad_()
        (g,) = torch.autograd.grad(above(a)[:, k].sum(), a)
        acts.append(a.detach()), grads.append(g)
    total = sum((grads[i - 1] + grads[i]) / 2 * (acts[i] - acts[i - 1]) for i in range(1, n + 1))
    return total.sum((2, 3)).numpy()


@pytest.mark.parametrize("n", [1, 3, 10])
def test_activation_trapezoid_matches_the_reference_rule_by_hand(smooth_convnet, images, n):
    ds = contributions(
        smooth_convnet,
        images,
        "1",
        ClassLogit(2),
        method="activation_trapezoid",
        n_steps=n,
        options=AttributionOptions(path="input", progress=False),
    )
    expected = reference_trapezoid(smooth_convnet, images, 1, 2, n)
    assert np.allclose(ds.contribution.values, expected, rtol=1e-10, atol=1e-12)
    assert ds.attrs["method"] == "activation_trapezoid" and ds.attrs["n_steps"] == n


def test_activation_trapezoid_is_exact_before_a_linear_readout(smooth_convnet, images):
    """Layer "3" (Softplus) feeds Flatten and Linear: the gradient is the same at every point, so
    the trapezoid in the activation telescopes to F(a(1)) - F(a(0)) however curved the path below
    is, with one step; layer "1" (Tanh) has a nonlinearity above it and is not complete so."""
    runs = {
        layer: contributions(
            smooth_convnet,
            images,
            layer,
            TopLogit(),
            method="activation_trapezoid",
            n_steps=1,
            options=AttributionOptions(path="input", progress=False),
        )
        for layer in ("1", "3")
    }
    assert relative_completeness(runs["3"]) < 1e-12
    assert relative_completeness(runs["1"]) > 1e-3


def test_activation_trapezoid_batches_chunks_and_layer_sets_agree(smooth_convnet, images):
    """Rows split across batches (3 rows: 4 points per image), one image per chunk, and two layers
    in one pass give the single-layer, one-batch result."""

    def run(layer, batch_size):
        return contributions(
            smooth_convnet,
            images,
            layer,
            TopLogit(),
            method="activation_trapezoid",
            n_steps=3,
            batch_size=batch_size,
            options=AttributionOptions(path="input", progress=False),
        )

    whole = run("1", 64)
    together = run(["1", "3"], 3)
    for ds in (run("1", 3), run("1", 4), together["1"]):
        assert np.allclose(ds.contribution, whole.contribution, rtol=1e-10, atol=1e-13)
        assert np.allclose(ds.completeness_error, whole.completeness_error, atol=1e-12)
    assert relative_completeness(together["3"]) < 1e-12


def test_activation_trapezoid_on_the_layer_path_is_the_trapezoid_on_n_plus_one_nodes(smooth_convnet, images):
    ours, trapezoid = (
        contributions(smooth_convnet, images, "0", TopLogit(), method=method, n_steps=n, options=QUIET)
        for method, n in (("activation_trapezoid", 5), ("riemann_trapezoid", 6))
    )
    assert np.allclose(ours.contribution, trapezoid.contribution, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("path", ["layer", "input"])
def test_sign_split_parts_sum_to_the_unsplit_result(smooth_convnet, images, path):
    whole = contributions(
        smooth_convnet, images, "0", TopLogit(), n_steps=8, options=AttributionOptions(path=path, progress=False)
    )
    parts = contributions(
        smooth_convnet,
        images,
        "0",
        TopLogit(),
        n_steps=8,
        options=AttributionOptions(path=path, split="sign", progress=False),
    )
    assert parts.contribution.dims == ("sample", "channel", "sign") and list(parts.sign) == ["neg", "pos"]
    assert np.allclose(parts.contribution.sum("sign"), whole.contribution, rtol=1e-10, atol=1e-12)
    assert np.allclose(parts.activation.sum("sign"), whole.activation)
    assert (parts.contribution.sel(sign="neg") <= 0).all() and (parts.contribution.sel(sign="pos") >= 0).all()
    assert (parts.contribution.sel(sign="pos") > 0).any() and (parts.contribution.sel(sign="neg") < 0).any()
    assert np.allclose(parts.completeness_error, whole.completeness_error, atol=1e-12)


@pytest.mark.parametrize("path", ["layer", "input"])
def test_top_logit_keeps_the_class_of_the_input_along_the_path(path):
    """Logits (x, 0.5 - x): at x = 1 class 0 wins (1 vs -0.5), at the zero baseline class 1 would
    (0 vs 0.5). The target stays class 0, so the baseline value is 0 and the contribution 1."""
    net = nn.Sequential(nn.Linear(1, 1), nn.Linear(1, 2)).double()
    with torch.no_grad():
        net[0].weight.fill_(1.0), net[0].bias.zero_()
        net[1].weight.copy_(torch.tensor([[1.0], [-1.0]])), net[1].bias.copy_(torch.tensor([0.0, 0.5]))
    ds = contributions(
        net, torch.ones(1, 1, dtype=torch.float64), "0", "top", options=AttributionOptions(path=path, progress=False)
    )
    assert ds.target_value.item() == pytest.approx(1.0)
    assert ds.baseline_value.item() == pytest.approx(0.0)
    assert ds.contribution.sum().item() == pytest.approx(1.0)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(3, 3), nn.Tanh())

    def forward(self, x):
        return x + self.inner(x)


def test_a_layer_inside_an_unknown_block_integrates_in_its_own_space():
    """Inside a residual block the downstream part reruns the block with the layer replaced; the
    path's start F(a0) keeps the skip connection at the input's value."""
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(2, 3), Residual(), nn.Linear(3, 1)).double()
    x = torch.randn(2, 2, dtype=torch.float64)
    ds = contributions(net, x, "1.inner.0", ClassLogit(0), n_steps=16, options=QUIET)
    with torch.no_grad():
        h = net[0](x)
        a0 = net[1].inner[0](net[0](torch.zeros(1, 2, dtype=torch.float64)))
        start = net[2](h + torch.tanh(a0))[:, 0]
    assert np.allclose(ds.baseline_value, start.numpy())
    assert relative_completeness(ds) < 1e-8


def test_mean_and_array_baselines(smooth_convnet, images):
    mean = contributions(smooth_convnet, images, "2", ClassLogit(2), baseline="mean", n_steps=8, options=QUIET)
    with torch.no_grad():
        expected = smooth_convnet(images.mean(0, keepdim=True))[0, 2].item()
    assert np.allclose(mean.baseline_value, expected)
    given = torch.randn_like(images)
    each = contributions(
        smooth_convnet,
        images.numpy(),
        "2",
        ClassLogit(2),
        baseline=given,
        n_steps=8,
        options=AttributionOptions(path="input", progress=False),
    )
    with torch.no_grad():
        assert np.allclose(each.baseline_value, smooth_convnet(given)[:, 2].numpy())
    assert relative_completeness(each) < 1e-4
    assert each.attrs["baseline"] == "array" and mean.attrs["baseline"] == "mean"


def test_result_is_labeled_with_provenance(smooth_convnet, images):
    ds = contributions(
        smooth_convnet.float(), images.float(), "2", "class:1", n_steps=5, method="riemann_middle", options=QUIET
    )
    assert ds.contribution.dims == ("sample", "channel") and ds.sizes == {"sample": 4, "channel": 4}
    assert list(ds.indexes["sample"].names) == ["image"] and list(ds.image.values) == [0, 1, 2, 3]
    assert ds.contribution.dtype == np.float32
    assert ds.attrs == {
        **ds.attrs,
        "retinacodec_version": retinacodec.__version__,
        "model": "Sequential",
        "layer": "2",
        "target": "class:1",
        "path": "layer",
        "method": "riemann_middle",
        "n_steps": 5,
        "baseline": "zero",
        "split": "none",
        "dtype": "float32",
    }
    activation = smooth_convnet[:3](images.float()).sum((2, 3))
    assert np.allclose(ds.activation, activation.detach().numpy(), rtol=1e-5)
    assert retinacodec.contributions is contributions


def test_model_mode_and_device_are_restored(smooth_convnet, images):
    smooth_convnet.train()
    contributions(smooth_convnet, images, "1", "top", n_steps=2, device="auto", options=QUIET)
    assert smooth_convnet.training and next(smooth_convnet.parameters()).device.type == "cpu"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(layer="9"), "unknown layer '9'"),
        (dict(layer=None), "no layer given"),
        (dict(layer=[]), "non-empty list of layer names"),
        (dict(target="class:3"), r"0\.\.2"),
        (dict(method="simpson"), "unknown quadrature"),
        (dict(batch_size=0), "batch_size"),
        (dict(baseline="black"), "unknown baseline"),
        (dict(baseline=torch.zeros(3, 2, 8, 8)), "baseline has shape"),
        (dict(device="tpu"), "device"),
        (dict(options={"path": "input"}), "expected AttributionOptions"),
        (dict(options=AttributionOptions(quadrature="riemann_left")), "does not use options.quadrature"),
        (dict(options=AttributionOptions(max_result_gb=1.0)), "does not use options.max_result_gb"),
    ],
)
def test_bad_arguments_are_retinacodec_errors(smooth_convnet, images, kwargs, message):
    arguments = {"layer": "1", "target": "top", "options": QUIET, **kwargs}
    with pytest.raises(RetinaCodecError, match=message):
        contributions(smooth_convnet, images, **arguments)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(path="output"), "unknown path"),
        (dict(split="channel"), "unknown split"),
        (dict(activation="window"), "unknown activation"),
        (dict(quadrature="simpson"), "unknown quadrature"),
        (dict(max_result_gb=0.0), "max_result_gb"),
        (dict(progress="yes"), "progress is 'yes'"),
    ],
)
def test_bad_options_are_refused_when_made(fields, message):
    with pytest.raises(RetinaCodecError, match=message):
        AttributionOptions(**fields)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_a_retinacodec_error(smooth_convnet, images, bad):
    images[1, 0, 2, 3] = bad
    with pytest.raises(RetinaCodecError, match="NaN or infinite"):
        contributions(smooth_convnet, images, "1", "top", options=QUIET)
