"""The per-layer ImageNet analysis of one image set
(:func:`~retinacodec.pipelines.imagenet.layers.run.run_imagenet`)."""
