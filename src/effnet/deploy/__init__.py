"""Deployment: one exporter per file format, the engines that run them (the fast path), int8 and
bf16 quantization, and the self-describing artifact format every command can load."""
