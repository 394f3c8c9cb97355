"""Benchmarks: ``python -m retinacodec.bench NAME [options]``.

Each benchmark is a module of this package with a ``main(argv)`` function; it measures our code
against a reference run in the same process and prints ratios, never absolute pass/fail times.
"""

BENCHMARKS = {
    "contributions": "hidden-layer IG against Captum, quadrature convergence, memory per image",
    "sae": "SAE fit time and recovery against scikit-learn's dictionary learning",
    "inference": "retina CNN inference speed over 10,000 frames",
    "interventions": "silencing every small channel set of a layer: one convolution per batch against masked passes",
    "parallel": "chunked contributions job: windows/s and images/s in one process and with 1 and 2 Dask workers",
    "gpu": "every torch path (contributions, SAE, training, IRFs, control, ResNet-50) on CUDA against the CPU",
    "virtual_retina": "virtual-retina simulation speed against a plain scipy reference",
    "recording": "training CNN + LN on a simulated rig recording: time, and fit to the truth",
    "completeness": "EfficientNet-Lite0 contributions' completeness per layer for each quadrature rule and node count",
    "figure6": "per-image cost of the paper's Figure 6 on ResNet-50, and the reproduction's time from it",
    "codec": "the Lite0 replication's cost per step and layer, both protocols, and what fits a time budget",
}
