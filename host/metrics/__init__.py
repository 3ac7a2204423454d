"""Metrics of issue 14: loss gradients that an integer model can show, decision-boundary
distances with bootstrap confidence intervals, distortion distributions."""
