"""Pipelines: the stages chained for one use (the ImageNet analysis, :mod:`.imagenet`)."""
