"""The names of the inference backends, torch-free.

The command line offers them as ``--backend`` choices while it builds its parser, before any
command runs; keeping the names here, apart from the engines that implement them, lets
``effnet eval --help`` answer without importing torch.
"""

from __future__ import annotations

#: What :func:`effnet.deploy.inference.optimize_for_inference` builds.
BACKENDS = ("eager", "compile", "onnxruntime", "openvino", "fused")
#: What ``backend="auto"`` tries unless told otherwise. torch.compile and the fused kernel are left
#: out: building them takes one to two minutes per model (compile) or 15-60 s once per machine
#: (fused) on a small CPU, and both measured slower than OpenVINO and ONNX Runtime there
#: (benchmarks/RESULTS.md); pass ``candidates=BACKENDS`` to time them too.
AUTO_CANDIDATES = ("openvino", "onnxruntime", "eager")
#: What ``--backend`` of eval and predict may name: the fast path's engines and the phone runtimes.
RUN_BACKENDS = ("auto", "eager", "onnxruntime", "openvino", "litert", "executorch")
#: What the speed tools time: "plain" is the model as built, in eval mode, NCHW, batch norm
#: unfolded (what a user gets without the fast path, and what Table 4 measures on both sides).
BENCH_BACKENDS = ("plain", *BACKENDS, "auto")
