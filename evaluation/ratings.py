"""Bradley–Terry ratings from pairwise outcome counts, with bootstrap intervals.

The model: P(i beats j) = σ(θi − θj). The ratings are the maximum-likelihood θ, found by
scipy.optimize.minimize on the log-likelihood and its gradient, reported on the familiar 400·log10
scale and shifted so that the mean rating of the models listed is 1000. A tie (or "both bad") counts
as half a win to each side, as Chatbot Arena does.

The likelihood only fixes differences of θ, and a model that won (or lost) every one of its votes has
no finite maximum; a tiny L2 term (far below what a single vote weighs) makes the optimum unique and
finite without moving a well-determined rating by any amount that shows.

Everything works on counts per pair of models, never on single votes: a hundred thousand votes over
twenty models are 190 pairs. The bootstrap resamples the votes as a multinomial draw over the
(pair, outcome) cells, and all the resamples are fitted together as one separable problem, started from
the point estimate, so its cost does not grow with the number of votes either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

SCALE = 400 / np.log(10)
MEAN_RATING = 1000.0
BOOTSTRAP_ROUNDS = 200
RIDGE = 1e-6  # the L2 weight, in units of votes (one vote's log-likelihood curvature is up to 1/4)
_OPTIONS = {"gtol": 1e-10, "ftol": 1e-15, "maxiter": 5000, "maxcor": 20}


@dataclass(frozen=True)
class PairCounts:
    """Outcome counts over pairs of models: `first[k]` beat `second[k]` `wins[k]` times, lost
    `losses[k]` times, and drew (tie or both bad) `draws[k]` times. Indexes are into `models`."""

    models: tuple
    first: np.ndarray
    second: np.ndarray
    wins: np.ndarray
    losses: np.ndarray
    draws: np.ndarray

    @classmethod
    def from_rows(cls, rows) -> PairCounts:
        """From (model a, model b, a's wins, b's wins, draws) rows, in any order and with repeats: the
        same unordered pair given twice, either way round, is added up. Models are kept in sorted order,
        so the same votes give the same bootstrap draws however the rows came."""
        rows = [row for row in rows if row[0] != row[1]]
        models = {m: index for index, m in enumerate(sorted({m for row in rows for m in row[:2]}))}
        cells: dict[tuple[int, int], list[float]] = {}
        for model_a, model_b, a_wins, b_wins, draws in rows:
            i, j = models[model_a], models[model_b]
            if i > j:
                i, j, a_wins, b_wins = j, i, b_wins, a_wins
            cell = cells.setdefault((i, j), [0.0, 0.0, 0.0])
            cell[0] += a_wins
            cell[1] += b_wins
            cell[2] += draws
        keys = sorted(cells)
        counts = np.array([cells[k] for k in keys], dtype=float).reshape(-1, 3)
        return cls(
            models=tuple(models),
            first=np.array([k[0] for k in keys], dtype=int),
            second=np.array([k[1] for k in keys], dtype=int),
            wins=counts[:, 0],
            losses=counts[:, 1],
            draws=counts[:, 2],
        )

    @property
    def total(self) -> int:
        return int(round(float(self.wins.sum() + self.losses.sum() + self.draws.sum())))


@dataclass(frozen=True)
class Ratings:
    models: tuple
    rating: np.ndarray  # one per model, mean MEAN_RATING
    low: np.ndarray  # 2.5th percentile of the bootstrap ratings
    high: np.ndarray  # 97.5th percentile


def strengths(
    first: np.ndarray, second: np.ndarray, a_score: np.ndarray, b_score: np.ndarray, size: int,
    start: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Maximum-likelihood θ for each row of the (rounds × pairs) scores `a_score` (what `first` won,
    draws counted half) and `b_score`: an array (rounds × size). Rows are independent problems, solved
    as one by L-BFGS (the objective is their sum, so its optimum is each row's optimum). `start`, one θ
    for every row (the point estimate, for bootstrap rows), only shortens the road to the optimum."""
    rounds = a_score.shape[0]
    games = a_score + b_score
    weight = max(float(games.sum()) / rounds, 1.0)
    incidence = np.zeros((len(first), size))  # +1 for a pair's first model, −1 for its second
    incidence[np.arange(len(first)), first] = 1.0
    incidence[np.arange(len(first)), second] = -1.0

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = flat.reshape(rounds, size)
        diff = theta[:, first] - theta[:, second]
        # −log σ(d) once (numpy's logaddexp, stable and far cheaper than scipy's log_expit); the other
        # side's term follows from log σ(−d) = log σ(d) − d, and σ(d) from its exponential.
        minus_log_p = np.logaddexp(0.0, -diff)
        loss = (games * minus_log_p + b_score * diff).sum() + 0.5 * RIDGE * (theta**2).sum()
        slope = a_score - games * np.exp(-minus_log_p)  # d log-likelihood / d diff
        grad = RIDGE * theta - slope @ incidence
        return loss / weight, grad.ravel() / weight

    x0 = np.zeros((rounds, size)) if start is None else np.tile(start, (rounds, 1))
    result = minimize(objective, x0.ravel(), jac=True, method="L-BFGS-B", options=_OPTIONS)
    return result.x.reshape(rounds, size)


def to_scale(theta: np.ndarray) -> np.ndarray:
    """Natural-log strengths → ratings on the 400·log10 scale, each row's mean at MEAN_RATING."""
    return MEAN_RATING + SCALE * (theta - theta.mean(axis=-1, keepdims=True))


def bradley_terry(counts: PairCounts, rounds: int = BOOTSTRAP_ROUNDS, seed: int | None = 0) -> Ratings:
    """Ratings with 95% intervals from `rounds` bootstrap resamples of the votes (`seed` makes the
    intervals repeatable; the ratings themselves do not depend on it)."""
    size = len(counts.models)
    if size == 0:
        empty = np.zeros(0)
        return Ratings((), empty, empty, empty)
    a_score = counts.wins + counts.draws / 2
    b_score = counts.losses + counts.draws / 2
    theta = strengths(counts.first, counts.second, a_score[None], b_score[None], size)[0]
    rating = to_scale(theta)

    cells = np.stack([counts.wins, counts.losses, counts.draws], axis=1).ravel()
    total = int(round(float(cells.sum())))
    rng = np.random.default_rng(seed)
    drawn = rng.multinomial(total, cells / cells.sum(), size=rounds).reshape(rounds, -1, 3).astype(float)
    boot_a = drawn[:, :, 0] + drawn[:, :, 2] / 2
    boot_b = drawn[:, :, 1] + drawn[:, :, 2] / 2
    boot = to_scale(strengths(counts.first, counts.second, boot_a, boot_b, size, start=theta))
    low, high = np.percentile(boot, [2.5, 97.5], axis=0)
    return Ratings(counts.models, rating, low, high)
