"""Reading and writing: netCDF results (atomic), NWB recordings, model checkpoints."""

from .._lazy import lazy_getattr
from .netcdf import read_netcdf, write_netcdf

__all__ = ["NWBSelection", "read_netcdf", "read_nwb", "write_netcdf", "write_nwb"]

# pynwb is slow to import; load it only when asked
__getattr__ = lazy_getattr(
    __name__,
    {"NWBSelection": "retinacodec.io.nwb", "read_nwb": "retinacodec.io.nwb", "write_nwb": "retinacodec.io.nwb"},
)
