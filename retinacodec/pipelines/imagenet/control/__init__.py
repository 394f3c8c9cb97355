"""The ImageNet control analysis: modes fitted on one image set, control measured on held-out
images (:func:`~retinacodec.pipelines.imagenet.control.run.run_control`)."""
