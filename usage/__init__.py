"""Usage and budgets: what a team's runs (and one person's) cost and how they went, read from the figures
stored on each response node.

A run counts for the team it was billed to (`Node.billed_team`, the canvas's team when it ran) on the UTC
day it was created. Everything here only reads: nodes are written by the engine.
"""
