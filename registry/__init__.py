"""Model catalog and bootstrap: manifest, sources, checksums, install into the model home.

Imported as ``llm_shield.registry``. Filled by the registry issue.
"""
