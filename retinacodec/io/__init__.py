"""Reading and writing: netCDF results (atomic), NWB recordings, model checkpoints."""
from .netcdf import read_netcdf, write_netcdf

__all__ = ["read_netcdf", "write_netcdf", "read_nwb", "write_nwb"]


def __getattr__(name: str):
    if name in ("read_nwb", "write_nwb"):  # pynwb is slow to import; load it only when asked
        from . import nwb

        return getattr(nwb, name)
    raise AttributeError(f"module 'retinacodec.io' has no attribute {name!r}")
