"""Chunked, resumable, optionally Dask-distributed runs over the sample axis.

:func:`run_chunked` is the generic runner (a function of a chunk -> ``xarray.Dataset``, a
:class:`Chunking` of the inputs, a job folder, and an :class:`Execution` saying where and how it
runs); :func:`run_contributions` is the concrete job for hidden-layer contributions of a retina
model over a stimulus or of a classifier over images.
"""

from .cluster import dask_client, local_cluster
from .contributions import run_contributions
from .execution import Execution
from .manifest import Chunk, Chunking, Manifest
from .runner import run_chunked

__all__ = [
    "Chunk",
    "Chunking",
    "Execution",
    "Manifest",
    "dask_client",
    "local_cluster",
    "run_chunked",
    "run_contributions",
]
