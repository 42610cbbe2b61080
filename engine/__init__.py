"""Likeness engine: face recognition and neural style transfer, usable without Qt."""
import os

# ONNX Runtime records a telemetry event (OS, CPU, Python path) under ~/.cache as soon as it is imported unless
# this is set first: an app that promises "only on this machine" records and sends nothing (runtime.onnx_session)
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
