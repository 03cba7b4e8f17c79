"""vc-bench: the exported runtime against eager PyTorch, side by side, on this machine.

One file per measurement kind (clip, streaming, e2e, training, memory), the models under test
(`subjects`), the timing and statistics helpers (`timing`), machine facts (`machine`), the
markdown table (`table`, torch-free) and the CLI (`cli`).
"""
