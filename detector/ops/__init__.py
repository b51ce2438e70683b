"""Tensor functions outside any nn.Module: decoding, IoU, thresholds, NMS."""
