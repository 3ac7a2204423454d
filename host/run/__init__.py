"""Running things: a campaign (attacks x backends -> records) and a clean evaluation.

Library code: it prints nothing (progress bars only when asked) and raises errors worded with
Python parameter names; ``host.api`` and the commands wrap it.
"""
