"""tinyrobust: adversarial robustness of quantized networks, measured on the microcontroller.

From Python: ``from host.api import evaluate, run_campaign`` (docs/python-api.md). Every
command is ``python -m host.<command>``.
"""
