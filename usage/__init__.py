"""Usage and budgets: what a team's runs (and one person's) cost and how they went, read from the figures
stored on each response node.

A run counts for the team it was billed to (`Node.billed_team`, the canvas's team when it ran) on the UTC
day it was created. Nodes are written by the engine only; this package reads them, and rolls the figures
of closed days up (usage/rollups.py) so that long periods read a row per day.
"""
