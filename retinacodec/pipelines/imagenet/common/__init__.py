"""What both ImageNet analyses share: image sources and labels, default layers, top-1
predictions, layer statistics and settings."""
