"""The Faust side of llm-shield-stream: topics, agents, batching, prefilter, verdicts and the CLI.

Everything here is reachable as ``llm_shield.streams``; the pipeline in ``pipeline.py`` is the one
place where events become verdicts, and the worker, ``replay`` and ``scan`` are adapters around it.
"""

__version__ = "0.1.0"
