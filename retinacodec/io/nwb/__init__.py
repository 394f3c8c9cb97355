"""NWB recordings: read a stimulus movie and binned spike counts in the layouts labs write, and
write them back.

NWB stores an ``ImageSeries`` as ``data[frame][x][y]`` (``nwb.image.yaml`` in the NWB core
schema); retinacodec's stimulus convention is (time, y, x), so both directions transpose the two
pixel axes.
"""

from .frames import LUMINANCE_WEIGHTS
from .read import read_nwb
from .selection import NWBSelection
from .write import write_nwb

__all__ = ["LUMINANCE_WEIGHTS", "NWBSelection", "read_nwb", "write_nwb"]
