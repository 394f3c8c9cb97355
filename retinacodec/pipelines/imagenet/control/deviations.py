"""What a control run does differently from the paper's reference code, one sentence each.

The reference is ``figures/figure_6_ablations/perform_layerwise_ablations.py``, ``plot_auc.py`` and
``preprocessing/3a_train_saes_resnet.py`` in ``baccuslab/CODEC_ICLR_2026``, with ``baccuslab/bscope``.
:func:`deviations` reads a run's summary record, so both protocols' reports name what their run did.
"""

from __future__ import annotations

from ....control.curves.reference import N_TRIAL_IMAGES, N_TRIALS, PCTS, REFERENCE_SEED

REFERENCE_LAYERS = (3, 6, 7, 9, 11, 13, 14, 15)
"""ResNet-50 Bottleneck blocks (of 16) the reference intervenes on."""
REFERENCE_IG_STEPS = 10
SAE_LIMITS = (
    "the SAE encoder has no dropout (the reference's drops 5 % after each hidden linear layer)",
    "the SAE starts from atoms and code rows aimed at training samples, not from Xavier-uniform atoms "
    "and PyTorch's default layers",
    "the SAE's learning rate ramps up over its first 100 steps and its gradient norm is clipped at 1 "
    "(the reference does neither)",
    "the SAE's Adam uses betas (0.9, 0.99), not PyTorch's (0.9, 0.999)",
    "the SAE's learning rate stays fixed (the reference halves it when the epoch loss has not improved "
    "for 10 epochs, ReduceLROnPlateau)",
    "the SAE keeps the network of its lowest-loss epoch (the reference keeps the last)",
)
"""What :class:`~retinacodec.modes.SAE` cannot follow of the reference's SAE training."""


def deviations(record: dict) -> list[str]:
    """Every way the run of ``record`` departs from the reference code.

    Parameters
    ----------
    record : dict
        A control run's summary (``protocol``, ``model``, ``layers``, ``settings``, ``n_classes``,
        ``fit_images``, ``top1`` and ``per_layer`` with ``n_channels``).

    Returns
    -------
    list of str
        One sentence per deviation, those shared by both protocols first.
    """
    found = _shared(record)
    if record["protocol"] == "codec":
        found += _codec(record)
    else:
        found += _retinacodec(record)
    return found


def _shared(record: dict) -> list[str]:
    model, layers, n_classes = record["model"], record["layers"], record["n_classes"]
    n_fit, n_held = record["fit_images"]["n_images"], record["top1"]["n_images"]
    found = []
    if model != "resnet50":
        found.append(f"network {model}, not torchvision's ResNet-50 (IMAGENET1K_V1 weights)")
    where = (
        "; EfficientNet-Lite block outputs are batch-norm outputs plus the skip, signed with non-zero "
        "means, where a zeroed channel is not a silent one"
        if model.startswith("efficientnet") and any(layer.startswith("block") for layer in layers)
        else ""
    )
    found.append(
        f"layers {', '.join(layers)}; the reference zeroes ResNet-50 Bottleneck outputs after the residual add "
        f"and the ReLU (zero is a channel's resting state), blocks {', '.join(map(str, REFERENCE_LAYERS))} "
        f"of 16{where}"
    )
    found.append(
        f"{n_classes} classes, not ImageNet's 1000; SAE and mode-class correlations from {n_fit} fit images "
        f"(about {n_fit // max(n_classes, 1)} per class) and control on {n_held} other (held-out) images; the "
        "reference uses the 50,000 validation images (50 per class) for all three (in-sample)"
    )
    return found


def _codec(record: dict) -> list[str]:
    s, c = record["settings"], record["settings"]["codec"]
    n_classes = record["n_classes"]
    found = [
        "the IG target is the logit of the class that is top at the image, held fixed along the path; the "
        "reference's (bscope Scope.wrt_topk(k=1)) is the largest logit at each point of the path, whose class "
        "can change along it",
        f"the off-target class is drawn among the {n_classes - 1} other classes; the reference draws both "
        "classes from all 1000 (the same class in 0.1 % of its trials)",
    ]
    changed = {
        "IG steps": (s["ig_steps"], REFERENCE_IG_STEPS),
        "SAE epochs": (c["sae_epochs"], 300),
        "mode rank": (c["mode_rank"], 1),
        "trials per (layer, percentage)": (c["n_trials"], N_TRIALS),
        "images per class and trial": (c["n_trial_images"], N_TRIAL_IMAGES),
        "percentages": (list(c["pcts"]), list(PCTS)),
        "seed of the trials": (c["trial_seed"], REFERENCE_SEED),
    }
    found += [
        f"{name} {ours}, not the reference's {theirs}" for name, (ours, theirs) in changed.items() if ours != theirs
    ]
    if s.get("ig_method") not in (None, "activation_trapezoid"):
        found.append(f"IG by the {s['ig_method']} rule, not the reference's trapezoid in the layer's activation")
    if c["sae_threshold"] != 0.8:
        found.append(f"SAE threshold {c['sae_threshold']}, not the reference script's 0.8 (0.9 in the paper's text)")
    if record["fit_images"]["n_images"] < 128:
        n_fit = record["fit_images"]["n_images"]
        found.append(f"SAE batches of {n_fit} samples (fewer fit images than the reference's 128)")
    found += list(SAE_LIMITS)
    found += _zero_counts(record)
    undefined = sum(entry.get("n_undefined_trials", 0) for entry in record["per_layer"].values())
    if undefined:
        found.append(
            f"{undefined} (trial, class) entries whose original accuracy is 0 are left out of the mean ratios; the "
            "reference's division leaves out 0 / 0 (nanmean) but turns a rise from 0 into an infinite ratio, "
            "which makes its mean and area infinite"
        )
    found.append(
        "random-channel curves and bootstrap intervals over trials are added beside the reference's quantities "
        "(it has neither; its bands are the SEM over trials); top-5 accuracy is not computed (the reference "
        "records it, its figure uses top-1)"
    )
    return found


def _zero_counts(record: dict) -> list[str]:
    """The reference's ``top_n(atom, 0)`` returns every channel: where ``int(C * pct / 100)`` is 0 its
    ablate zeroes all channels and its preserve none; here ablate zeroes none and preserve all."""
    smallest = min(record["settings"]["codec"]["pcts"])
    small = [
        f"{layer} ({entry['n_channels']} channels)"
        for layer, entry in record["per_layer"].items()
        if int(entry["n_channels"] * smallest / 100) == 0
    ]
    if not small:
        return []
    return [
        f"at {', '.join(small)} the smallest percentages are 0 channels: ablate zeroes none and preserve zeroes "
        "all, where the reference's top_n(atom, 0) returns every channel (ablate all, preserve none; never "
        "reached on ResNet-50, whose blocks have 256 or more channels)"
    ]


RULE_NAMES = {"gausslegendre": "Gauss-Legendre", "riemann_trapezoid": "trapezoid-rule"}
"""How the deviations name a quadrature rule of :data:`retinacodec.attribution.quadrature.METHODS`."""


def _retinacodec(record: dict) -> list[str]:
    s = record["settings"]
    return [
        f"IG by {s['ig_steps']} {RULE_NAMES.get(s.get('ig_method') or 'gausslegendre', s.get('ig_method'))} "
        "nodes, not the reference's 10-step trapezoid in the layer's activation",
        "one SAE on both signs of the contributions (2C features, non-negative dictionary, this package's "
        "defaults), not on the positive parts alone (C features) with the reference's settings",
        "channels ranked by the summed magnitude of the atom over signs, not by its signed entry (which never "
        "picks channels that suppress the class)",
        "the best-correlated mode of each class, not the second",
        f"max(1, round(f C)) channels at fractions {', '.join(f'{100 * f:g} %' for f in s['fractions'])} "
        f"(log axis), not int(C pct / 100) at {', '.join(map(str, PCTS))} % (linear axis)",
        "every class scored on its own images and on the others' (accuracy drops, specificity, bootstrap over "
        "images), not perturbed / original accuracy over random (target, off-target) pairs and the layer "
        "score (AUC_target - AUC_off) / AUC_off",
        "random-channel curves are added as a baseline (the reference has none)",
    ]
