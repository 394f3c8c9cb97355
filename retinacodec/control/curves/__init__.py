"""Control curves: ablate or preserve a mode's top channels over a range of channel counts.

``retina`` measures the cells' rate changes in a retina CNN (k = 1, 2, ... channels of each layer,
on- and off-target, contribution against activation modes and random sets); ``classifier``
measures target- and off-target accuracy of an image classifier over fractions of a layer's
channels, with bootstrap intervals over images (the paper's Fig. 6). Each has its own
``curve_summary``; import it from the submodule.
"""

from .classifier import channel_masks, classifier_control_curves, n_top
from .retina import CurveSettings, retina_control_curves, target_rankings

__all__ = [
    "CurveSettings",
    "channel_masks",
    "classifier_control_curves",
    "n_top",
    "retina_control_curves",
    "target_rankings",
]
