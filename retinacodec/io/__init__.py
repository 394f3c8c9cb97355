"""Reading and writing: netCDF results (atomic), NWB recordings, model checkpoints."""
from .netcdf import read_netcdf, write_netcdf

__all__ = ["read_netcdf", "write_netcdf", "read_nwb"]


def __getattr__(name: str):
    if name == "read_nwb":  # pynwb is slow to import; load it only when asked
        from .nwb import read_nwb

        return read_nwb
    raise AttributeError(f"module 'retinacodec.io' has no attribute {name!r}")
