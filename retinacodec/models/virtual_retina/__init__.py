"""The virtual retina: a simulated circuit whose pathways are known, CODEC's ground truth.

``params`` holds the named connections and cell layout, ``filters`` the spatial and temporal
filters (torch and scipy), ``circuit`` the stages from photoreceptors to ganglion-cell drive,
``retina`` the :class:`VirtualRetina` that simulates responses under in-silico pharmacology, and
``phenomena`` the battery of retinal phenomena it is checked against.
"""

from .params import GANGLION_TYPES, PATHWAYS, Connection, VirtualRetinaParams
from .retina import DRUGS, FRAME_RATE_HZ, VirtualRetina

__all__ = ["DRUGS", "FRAME_RATE_HZ", "GANGLION_TYPES", "PATHWAYS", "Connection", "VirtualRetina", "VirtualRetinaParams"]
