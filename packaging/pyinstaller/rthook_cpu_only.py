# Runs first inside a --cpu-only bundle built from a CUDA torch: that bundle leaves out the GPU
# kernel libraries, so hide the GPUs from torch, which then never tries to load them and
# LiveDet's "auto" device settles on the CPU (an explicit --device cuda says it is unavailable).
# LiveDet reads the empty variable too: it then knows the CPU will run the model without importing
# torch, and starts from the cached ONNX export (detector.device.gpu_may_be_present).
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
