"""``python -m llm_shield.ops.cli``: the same entry point as the ``llm-shield`` script."""

from llm_shield.ops.cli import main

main()
