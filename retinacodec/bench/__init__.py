"""Benchmarks: ``python -m retinacodec.bench NAME [options]``.

Each benchmark is a module of this package with a ``main(argv)`` function; it measures our code
against a reference run in the same process and prints ratios, never absolute pass/fail times.
"""
BENCHMARKS = {
    "contributions": "hidden-layer IG against Captum, quadrature convergence, memory per image",
    "sae": "SAE fit time and recovery against scikit-learn's dictionary learning",
    "inference": "retina model inference speed and virtual-retina simulation speed",
}
