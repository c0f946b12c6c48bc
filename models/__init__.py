"""Model runtime: tokenization, ONNX sessions, batched inference, post-processing, result cache.

Imported as ``llm_shield.models``. Empty until the ONNX runtime lands (issue: inference in the
stream); the worker runs the heuristic scanners from ``llm_shield.streams.heuristics`` until then.
"""
