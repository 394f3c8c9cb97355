"""The steps of ``retinacodec demo``: settings, a resumable output folder, the computations, the
figures and the report. :func:`retinacodec.demo.run_demo` strings them together."""
from .settings import LAYERS, DemoSettings
from .workspace import Workspace

__all__ = ["LAYERS", "DemoSettings", "Workspace"]
