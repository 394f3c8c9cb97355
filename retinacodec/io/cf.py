"""The CF attributes our results carry, so that tools such as cf_xarray read them.

``units`` are UDUNITS strings; the prose that explains a quantity goes in ``long_name`` or
``description``. Pixel positions and contrast are dimensionless (``"1"``). No CF standard name
fits our quantities: time is counted from the stimulus onset, with no reference date, so it has
``axis = "T"`` but no ``standard_name``.
"""

from __future__ import annotations

from types import MappingProxyType

CONVENTIONS = "CF-1.11"
"""The CF version our netCDF files follow (their global ``Conventions`` attribute)."""
RATE_UNITS = "Hz"
"""Units of a firing rate (a retina model's output)."""
DIMENSIONLESS = "1"
"""Units of contrast, logits, pixel positions and other pure numbers."""
CONTRAST_LONG_NAME = "Weber contrast (L - mean luminance) / mean luminance"
TIME = MappingProxyType({"units": "s", "axis": "T"})
"""Attrs of a ``time`` coordinate: seconds from the start of the stimulus."""
PIXEL_Y = MappingProxyType({"units": DIMENSIONLESS, "axis": "Y", "long_name": "pixel row"})
"""Attrs of a frame's ``y`` coordinate (pixel index)."""
PIXEL_X = MappingProxyType({"units": DIMENSIONLESS, "axis": "X", "long_name": "pixel column"})
"""Attrs of a frame's ``x`` coordinate (pixel index)."""
