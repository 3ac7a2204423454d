"""Defenses: pre-processing stages in front of any backend (train-based defenses are zoo models).

A pre-processing defense is written after a '+' in a backend name: ``engine-int8+bits5``,
``device-int8+median2``, ``float+jpeg75``; several apply left to right.
"""
