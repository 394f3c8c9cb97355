"""Contributions of hidden-layer channels by Integrated Gradients (one algorithm per module).

- :mod:`.ig`: :func:`contributions`, the public entry point (labeled results).
- :mod:`.options`: :class:`AttributionOptions`, the rarely-set knobs it shares with the receptive fields.
- :mod:`.layer_path`: the straight path in the layer's own space.
- :mod:`.conductance`: layer conductance, the straight path in input space.
- :mod:`.quadrature`: nodes and weights of the path integral, derivative estimates at the nodes.
- :mod:`.gradients`: shared gradient utilities; :mod:`.inputs`: inputs, baselines, sample labels.
"""

from .ig import contributions
from .options import AttributionOptions
from .quadrature import METHODS, quadrature

__all__ = ["METHODS", "AttributionOptions", "contributions", "quadrature"]
