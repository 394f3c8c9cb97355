"""The retina pipeline behind ``retinacodec demo``: settings, steps, figures, report and the run
(:func:`~retinacodec.pipelines.retina.run.run_demo`) that strings them together in a resumable
folder (:class:`~retinacodec.io.resumable.Workspace`)."""

from .settings import LAYERS, DemoSettings, Placement

__all__ = ["LAYERS", "DemoSettings", "Placement"]
