"""Operator scripts: building and converting models, accuracy reports, benchmarks, deployment.

Imported as ``llm_shield.ops``; these modules may use the optional ``build`` extra; the worker
never imports them.
"""
