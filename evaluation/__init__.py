"""Leaderboards, cost estimates and vote datasets, read from the votes (evaluation/apps.py)."""

import os

# The rating fits (evaluation/ratings.py) are small (tens of models, a few hundred pairs), and more than
# one BLAS thread makes every matrix product and every L-BFGS step wake a thread pool: on a busy host
# that waiting costs more than the arithmetic (a cold 100,000-vote leaderboard's fits took 300–460 ms
# with two threads on the 2-core bench machine, 60 ms with one). A web process serves requests in
# parallel anyway. This must run before numpy is first imported, which only evaluation.ratings does;
# an operator's own setting is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
