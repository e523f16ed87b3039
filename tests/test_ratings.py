"""The Bradley–Terry ratings (evaluation/ratings.py) against an independent reference: Zermelo's
iteration (Hunter's MM algorithm), which converges to the same maximum-likelihood strengths by a
different road, on a fixed set of votes; and the bootstrap intervals for sanity."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.ratings import PairCounts, bradley_terry


def fixed_votes() -> list[tuple[str, str, str]]:
    """A fixed, connected set of 2,000 votes over six models of known strengths: (a, b, outcome)."""
    rng = random.Random(20261206)
    strength = {"gpt": 1.2, "claude": 1.0, "gemini": 0.5, "deepseek": 0.6, "vllm-ds": 0.3, "tiny": -0.8}
    names = list(strength)
    votes = []
    for _ in range(2000):
        a, b = rng.sample(names, 2)
        p_a = 1 / (1 + math.exp(strength[b] - strength[a]))
        roll = rng.random()
        votes.append(
            (a, b, "tie" if roll < 0.08 else "both_bad" if roll < 0.12 else "a" if rng.random() < p_a else "b")
        )
    return votes


def counts_of(votes) -> PairCounts:
    return PairCounts.from_rows(
        (a, b, outcome == "a", outcome == "b", outcome in ("tie", "both_bad")) for a, b, outcome in votes
    )


def zermelo(votes, iterations: int = 100_000, tolerance: float = 1e-13) -> dict[str, float]:
    """Reference: p_i ← W_i / Σ_j n_ij / (p_i + p_j), W_i the wins of i (a draw half to each side),
    n_ij the votes between i and j; ratings 400·log10 p, mean 1000."""
    names = sorted({m for a, b, _ in votes for m in (a, b)})
    wins = dict.fromkeys(names, 0.0)
    games: dict[tuple[str, str], int] = {}
    for a, b, outcome in votes:
        wins[a] += 1.0 if outcome == "a" else 0.5 if outcome in ("tie", "both_bad") else 0.0
        wins[b] += 1.0 if outcome == "b" else 0.5 if outcome in ("tie", "both_bad") else 0.0
        for pair in ((a, b), (b, a)):
            games[pair] = games.get(pair, 0) + 1
    p = dict.fromkeys(names, 1.0)
    for _ in range(iterations):
        new = {i: wins[i] / sum(n / (p[i] + p[j]) for (x, j), n in games.items() if x == i) for i in names}
        geo = math.exp(sum(math.log(v) for v in new.values()) / len(new))
        new = {i: v / geo for i, v in new.items()}
        done = max(abs(math.log(new[i] / p[i])) for i in names) < tolerance
        p = new
        if done:
            break
    logs = {i: 400 * math.log10(v) for i, v in p.items()}
    mean = sum(logs.values()) / len(logs)
    return {i: 1000 + v - mean for i, v in logs.items()}


def test_ratings_match_the_zermelo_reference():
    votes = fixed_votes()

    ratings = bradley_terry(counts_of(votes))

    reference = zermelo(votes)
    ours = dict(zip(ratings.models, ratings.rating, strict=True))
    assert set(ours) == set(reference)
    for model, rating in reference.items():
        assert ours[model] == pytest.approx(rating, abs=1e-3), model
    assert np.mean(ratings.rating) == pytest.approx(1000, abs=1e-9)
    # The order the known strengths imply.
    assert sorted(ours, key=ours.get, reverse=True)[:2] == ["gpt", "claude"] and min(ours, key=ours.get) == "tiny"


def test_a_tie_is_half_a_win_to_each_side():
    """Two models, 3 wins for a, 1 for b and 2 ties: a's score is 4 of 6, so p = 2/3 exactly."""
    votes = [("a", "b", "a")] * 3 + [("a", "b", "b"), ("a", "b", "tie"), ("b", "a", "both_bad")]

    ratings = dict(zip(*(lambda r: (r.models, r.rating))(bradley_terry(counts_of(votes))), strict=True))

    assert ratings["a"] - ratings["b"] == pytest.approx(400 * math.log10(2), abs=1e-3)


def test_pairs_given_either_way_round_are_added_up():
    forward = counts_of([("x", "y", "a"), ("x", "y", "b"), ("x", "y", "a")])
    mixed = counts_of([("x", "y", "a"), ("y", "x", "a"), ("y", "x", "b")])

    assert (
        (forward.wins.tolist(), forward.losses.tolist()) == (mixed.wins.tolist(), mixed.losses.tolist()) == ([2], [1])
    )


def test_intervals_hold_the_rating_and_narrow_with_more_votes():
    votes = fixed_votes()
    few = bradley_terry(counts_of(votes[:200]), seed=1)
    many = bradley_terry(counts_of(votes), seed=1)

    for ratings in (few, many):
        assert np.all(ratings.low <= ratings.rating) and np.all(ratings.rating <= ratings.high)
        assert np.all(ratings.high - ratings.low > 0)
    width = dict(zip(many.models, many.high - many.low, strict=True))
    width_few = dict(zip(few.models, few.high - few.low, strict=True))
    assert all(width[m] < width_few[m] for m in width)
    # Roughly what theory says: 2,000 votes over 15 pairs pin a rating to within some tens of points.
    assert 10 < float(np.median(many.high - many.low)) < 120


def test_intervals_are_repeatable_with_a_seed_and_vary_without():
    counts = counts_of(fixed_votes()[:300])

    one, two, other = bradley_terry(counts, seed=7), bradley_terry(counts, seed=7), bradley_terry(counts, seed=8)

    assert np.array_equal(one.low, two.low) and np.array_equal(one.high, two.high)
    assert not np.array_equal(one.low, other.low)
    assert np.array_equal(one.rating, other.rating)


def test_a_model_that_won_every_vote_still_gets_a_finite_rating():
    ratings = bradley_terry(counts_of([("champ", "b", "a")] * 5 + [("b", "c", "a"), ("c", "b", "a")]))

    assert np.all(np.isfinite(ratings.rating)) and np.all(np.isfinite(ratings.low))
    assert ratings.rating[list(ratings.models).index("champ")] == max(ratings.rating)


def test_no_votes_no_ratings():
    ratings = bradley_terry(PairCounts.from_rows([]))

    assert ratings.models == () and len(ratings.rating) == 0


# Run in a fresh interpreter: the app must set the BLAS thread count before numpy is first loaded.
_BLAS_THREADS = """
import ctypes, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from evaluation import ratings  # numpy's and scipy's BLAS libraries are loaded from here on
threads = {}
for path in sorted({line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line.lower()}):
    library = ctypes.CDLL(path)
    for name in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads"):
        if hasattr(library, name):
            threads[path] = getattr(library, name)()
            break
print(json.dumps(threads))
"""


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the loaded libraries from /proc")
def test_the_fits_run_on_one_blas_thread():
    """More BLAS threads only add waiting to fits this small (evaluation/__init__.py says how much)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}

    done = subprocess.run([sys.executable, "-c", _BLAS_THREADS], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)  # fmt: skip

    assert done.returncode == 0, done.stderr
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    assert threads and set(threads.values()) == {1}, threads
