# Runs first inside a --cpu-only bundle built from a CUDA torch: that bundle leaves out the GPU
# kernel libraries, so hide the GPUs from torch, which then never tries to load them and
# LiveDet's "auto" device settles on the CPU (an explicit --device cuda says it is unavailable).
import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
