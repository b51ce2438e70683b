"""Plain functions outside any nn.Module: decoding and box maths on tensors; thresholds and NMS on host
NumPy arrays (``postprocess``), so a slider change never re-runs the network."""
