"""Plain-text tables of control results: the numbers of hand-made results, in their rows."""

import numpy as np
import xarray as xr

from retinacodec.control.tables import control_table, curves_table


def control_result() -> xr.Dataset:
    """Four cells (two OMS), two selections; rate change = selection + cell/10 under ablation."""
    change = np.zeros((2, 3, 4))
    change[:, 1] = np.arange(2)[:, None] + np.arange(4)[None] / 10
    return xr.Dataset(
        {
            "rate_change": (("selection", "intervention", "cell"), change),
            "correlation": (("selection", "intervention", "cell"), 1.0 - change / 10),
        },
        coords={
            "selection": ["contribution", "activation"],
            "intervention": ["none", "ablate", "preserve"],
            "cell": [0, 1, 2, 3],
            "cell_type": ("cell", ["on", "oms", "on", "oms"]),
        },
    )


def test_control_table_rows_are_group_means_side_by_side():
    lines = control_table(control_result(), ("cell_type", "oms")).splitlines()
    assert lines[1].split() == ["cells", "intervention", "contribution", "activation", "contribution", "activation"]
    assert [line.split(" (")[0] for line in lines[2:]] == ["oms cells"] * 3 + ["other cells"] * 3
    ablate = lines[3].split()
    assert ablate[:4] == ["oms", "cells", "(2)", "ablate"]
    # oms cells 1 and 3: mean change 0.2 (contribution) and 1.2 (activation); correlations 0.98 and 0.88
    np.testing.assert_allclose([float(value) for value in ablate[4:]], [0.2, 1.2, 0.98, 0.88])
    alone = control_table(control_result()).splitlines()
    assert len(alone) == 5 and alone[2].startswith("all cells (4)")


def test_curves_table_lists_every_point_and_the_means():
    targets, selections, ks = ["on", "oms"], ["contribution", "random"], [1, 2]
    dims = ("target", "selection", "intervention", "k")
    specificity = np.arange(16, dtype=float).reshape(2, 2, 2, 2) / 100
    curves = xr.Dataset(
        {
            "specificity": (dims, specificity),
            "specificity_se": (dims, np.full(specificity.shape, 0.01)),
            "specificity_spread": (dims, np.full(specificity.shape, 0.02)),
        },
        coords={"target": targets, "selection": selections, "intervention": ["ablate", "preserve"], "k": ks},
        attrs={"kind": "retina_control_curves"},
    )
    lines = curves_table(curves).splitlines()
    assert lines[0].split() == ["target", "intervention", "k", "contribution", "random"]
    assert len(lines) == 1 + 8 + 2
    assert lines[1].split() == ["on", "ablate", "1", "+0.000", "±", "0.010", "+0.040", "±", "0.020"]
    # contribution, ablate: mean of 0.00, 0.01, 0.08, 0.09
    assert lines[-2] == "mean over targets and k, ablate: contribution +0.045, random +0.085"
