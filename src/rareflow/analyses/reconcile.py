"""Weighted-least-squares data reconciliation of linear balances, with gross-error tests.

Given measurements `y` of `n` streams with independent errors of variance `v` (`V = diag(v)`)
and linear balances `A @ x = 0` (`m` nodes), the reconciled values are

    x_hat = y - V A' (A V A')^-1 A y

(Narasimhan & Jordache 2000, ch. 3). Everything is sparse: `M = A V A'` is factorised once
with SuperLU in symmetric mode (diagonal pivots, so `P M P' = L D L'`), and the diagonal of
`A' M^-1 A` needed for the standard deviations comes from the entries of `M^-1` on the
pattern of `L` (Takahashi's selected inversion), never from a dense inverse.

A zero variance marks an exactly known stream: it is never adjusted. Dependent balances
(rank-deficient `A`, e.g. a closed network) are found on a row- and column-scaled copy of
`A` and dropped before solving; they hold automatically when the kept ones do, and the
degrees of freedom are the number of kept balances (= rank of `A` over measured streams).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from scipy.special import chdtrc, erfc  # chi2.sf and 2*norm.sf, without scipy.stats' import

# Dependent-row detection (on the scaled A): a pivot below RANK_TOL (diagonal = 1) means the
# row is a combination of rows eliminated before it. SHIFT only keeps SuperLU off exact zeros.
RANK_TOL = 1e-7
SHIFT = 1e-14
# A balance that cannot be closed by adjusting measured streams is infeasible beyond this.
FEASIBILITY_TOL = 1e-9
# A reconciled variance below this fraction of the measurement variance is rounding: 0.
ROUNDING = 1e-12


class ReconciliationInputError(ValueError):
    """Inputs that do not describe a reconciliation problem (shapes, variances, feasibility)."""


@dataclass(frozen=True)
class Reconciliation:
    """Result of `reconcile`. Arrays are indexed like the streams (or nodes) of the input."""

    nodes: list[str]
    streams: list[str]
    measured: np.ndarray
    variance: np.ndarray
    reconciled: np.ndarray
    sd: np.ndarray  # standard deviation of each reconciled value
    adjustments: np.ndarray  # reconciled - measured
    adjustment_sd: np.ndarray  # standard deviation of each adjustment
    residuals: np.ndarray  # r = A @ measured, one per node
    residual_sd: np.ndarray  # sqrt(diag(A V A'))
    statistic: float  # r' (A V A')^-1 r
    dof: int  # rank of A (over measured streams)
    p_value: float
    alpha: float
    node_z: np.ndarray
    node_p: np.ndarray
    measurement_z: np.ndarray
    measurement_p: np.ndarray
    dropped_nodes: list[int]  # balances dropped as dependent or with no measured stream

    @property
    def gross_error(self) -> bool:
        """True when the global chi-square test rejects at level `alpha`."""
        return bool(self.p_value < self.alpha)

    @property
    def node_flagged(self) -> np.ndarray:
        return self.node_p < self.alpha

    @property
    def measurement_flagged(self) -> np.ndarray:
        return self.measurement_p < self.alpha

    def to_json(self) -> dict:
        """A JSON-ready dict: reconciled values, their sd, and the three tests."""
        return {
            "reconciled": [float(v) for v in self.reconciled],
            "sd": [float(v) for v in self.sd],
            "global_test": {"statistic": float(self.statistic), "dof": int(self.dof),
                            "p_value": float(self.p_value), "alpha": float(self.alpha),
                            "gross_error": self.gross_error},
            "nodes": [{"node": name, "residual": float(r), "z": float(z),
                       "p_value": float(p), "flagged": bool(p < self.alpha)}
                      for name, r, z, p in zip(self.nodes, self.residuals, self.node_z,
                                               self.node_p, strict=True)],
            "measurements": [{"stream": name, "measured": float(y), "reconciled": float(x),
                              "adjustment": float(a), "z": float(z),
                              "flagged": bool(p < self.alpha)}
                             for name, y, x, a, z, p in zip(
                                 self.streams, self.measured, self.reconciled,
                                 self.adjustments, self.measurement_z, self.measurement_p,
                                 strict=True)],
        }


def reconcile(A, measured: Sequence[float] | np.ndarray, variance: Sequence[float] | np.ndarray,
              *, alpha: float = 0.05, nodes: Sequence[str] | None = None,
              streams: Sequence[str] | None = None) -> Reconciliation:
    """Reconcile `measured` to the balances `A @ x = 0` by weighted least squares.

    `A` is an `m x n` dense array-like or scipy.sparse matrix; `variance` holds the error
    variance of each measurement (0 = exactly known, never adjusted). Raises
    `ReconciliationInputError` on bad shapes or variances, or when exactly known values
    make a balance impossible to close."""
    A = sp.csr_matrix(A, dtype=float)
    m, n = A.shape
    if not np.isfinite(A.data).all():
        raise ReconciliationInputError("A contains a value that is not a finite number")
    y = _vector(measured, n, "measured")
    v = _vector(variance, n, "variance")
    if (v < 0).any():
        raise ReconciliationInputError(f"variance of stream {int(np.argmax(v < 0)) + 1} is "
                                       "negative")
    if not 0 < alpha < 1:
        raise ReconciliationInputError("alpha must be between 0 and 1")
    node_names = _names(nodes, m, "N", "nodes")
    stream_names = _names(streams, n, "S", "streams")

    r = A @ y
    keep = _independent_rows(A, v > 0)
    Ak = A[keep]
    M = (Ak @ sp.diags(v) @ Ak.T).tocsc()
    lam = np.zeros(0)
    q = np.zeros(n)  # q_j = a_j' M^-1 a_j
    statistic = 0.0
    if len(keep):
        try:
            lu = _factorise(M)
        except RuntimeError as exc:  # SuperLU: exactly singular despite the rank check
            raise ReconciliationInputError("the balances are numerically dependent (A V A' "
                                           "is singular); check A for near-duplicate rows"
                                           ) from exc
        lam = lu.solve(r[keep])
        statistic = float(r[keep] @ lam)
        q = _quadratic_diagonal(lu, Ak)
    x = y - v * (Ak.T @ lam)
    x[v == 0] = y[v == 0]  # exactly, not up to rounding
    _check_feasible(A, x, y)

    dof = len(keep)
    p_value = float(chdtrc(dof, statistic)) if dof else 1.0
    adj_var = np.clip(v * v * q, 0.0, v)
    var = v - adj_var
    var[var <= ROUNDING * v] = 0.0  # fully determined streams: 0, not sqrt(rounding noise)
    sd = np.sqrt(var)
    adj = x - y
    adj_sd = np.sqrt(adj_var)
    meas_z = np.divide(adj, adj_sd, out=np.zeros(n), where=adj_sd > 0)
    res_sd = np.sqrt(np.asarray(A.multiply(A) @ v).ravel())
    node_z = np.divide(r, res_sd, out=np.zeros(m), where=res_sd > 0)
    return Reconciliation(
        nodes=node_names, streams=stream_names, measured=y, variance=v, reconciled=x, sd=sd,
        adjustments=adj, adjustment_sd=adj_sd, residuals=r, residual_sd=res_sd,
        statistic=statistic, dof=dof, p_value=p_value, alpha=alpha,
        node_z=node_z, node_p=erfc(np.abs(node_z) / np.sqrt(2)),
        measurement_z=meas_z, measurement_p=erfc(np.abs(meas_z) / np.sqrt(2)),
        dropped_nodes=sorted(set(range(m)) - set(keep.tolist())))


def _vector(values, n: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or len(arr) != n:
        raise ReconciliationInputError(f"{what} has shape {arr.shape}, expected ({n},): one "
                                       "value per column (stream) of A")
    if not np.isfinite(arr).all():
        raise ReconciliationInputError(f"{what} contains a value that is not a finite number")
    return arr


def _names(names: Sequence[str] | None, k: int, prefix: str, what: str) -> list[str]:
    if names is None:
        return [f"{prefix}{i + 1}" for i in range(k)]
    out = [str(s) for s in names]
    if len(out) != k:
        raise ReconciliationInputError(f"{what} has {len(out)} names, expected {k}")
    return out


def _factorise(M: sp.csc_matrix):
    """SuperLU on a symmetric positive (semi)definite matrix with diagonal pivoting, so that
    `P M P' = L U` with `U = D L'` (a sparse LDL' in SuperLU's clothes)."""
    return splu(M, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                options={"SymmetricMode": True})


def _independent_rows(A: sp.csr_matrix, measured: np.ndarray) -> np.ndarray:
    """Indices of a maximal set of independent balances over the measured streams.

    Rows with no measured stream cannot be reconciled and are left out (their residual is
    checked by `_check_feasible`). The rank decision is made on `A` with unit weights and
    scaled columns and rows, so it does not depend on the variances."""
    Am = A[:, np.flatnonzero(measured)].tocsc()
    if min(Am.shape) == 0:
        return np.zeros(0, dtype=int)
    colmax = abs(Am).max(axis=0).toarray().ravel()
    Am = Am @ sp.diags(1.0 / np.where(colmax > 0, colmax, 1.0))
    Am = Am.tocsr()
    norms = np.sqrt(np.asarray(Am.multiply(Am).sum(axis=1)).ravel())
    live = np.flatnonzero(norms > 0)
    if not len(live):
        return live
    B = sp.diags(1.0 / norms[live]) @ Am[live]
    G = (B @ B.T + SHIFT * sp.identity(len(live))).tocsc()
    lu = _factorise(G)
    pivots = lu.U.diagonal()[lu.perm_r]  # pivot of each row of G, in G's row order
    return live[pivots > RANK_TOL]


def _check_feasible(A: sp.csr_matrix, x: np.ndarray, y: np.ndarray) -> None:
    scale = np.asarray(abs(A) @ np.abs(y)).ravel()
    bad = np.abs(A @ x) > FEASIBILITY_TOL * np.maximum(scale, 1.0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ReconciliationInputError(
            f"balance {i + 1} cannot be closed: the exactly known (zero-variance) streams fix "
            "it and it does not hold")


def _quadratic_diagonal(lu, Ak: sp.csr_matrix) -> np.ndarray:
    """`q_j = a_j' M^-1 a_j` for every column `a_j` of `Ak`, with `M = Ak V Ak'` factorised
    in `lu`. Uses `M^-1` only on the pattern of the factor, which holds every pair of nodes
    that share a stream with nonzero variance (the only pairs `q_j` needs)."""
    if not (lu.perm_r == lu.perm_c).all():  # SuperLU left the diagonal: solve by blocks
        return _quadratic_diagonal_by_solves(lu, Ak)
    perm = lu.perm_c  # row i of M is row perm[i] of the factor
    Z = _selected_inverse(lu.L.tocsc(), lu.U.diagonal())[perm][:, perm]  # in M's order
    return np.asarray(Ak.multiply(Z @ Ak).sum(axis=0)).ravel()


def _quadratic_diagonal_by_solves(lu, Ak: sp.csr_matrix, block: int = 256) -> np.ndarray:
    Ak = Ak.tocsc()
    n = Ak.shape[1]
    q = np.zeros(n)
    for start in range(0, n, block):
        cols = Ak[:, start:start + block].toarray()
        q[start:start + block] = np.einsum("ij,ij->j", cols, lu.solve(cols))
    return q


def _selected_inverse(L: sp.csc_matrix, d: np.ndarray) -> sp.csr_matrix:
    """Entries of `Z = (L D L')^-1` on the (symbolically closed) pattern of `L + L'`.

    Takahashi's recursion, last column first: for `S` the below-diagonal pattern of column
    `i`, `Z[S, i] = -Z[S, S] @ L[S, i]` and `Z[i, i] = 1/d_i - L[S, i] . Z[S, i]`. The pattern
    is closed under the elimination tree first, so every `Z[S, S]` needed is already known."""
    k = L.shape[0]
    struct, vals = _symbolic_pattern(L)
    col: list[dict[int, float]] = [{} for _ in range(k)]  # col[c][r] = Z[r, c], r >= c
    for i in range(k - 1, -1, -1):
        S = struct[i]
        li = vals[i]
        if not len(S):
            col[i][i] = 1.0 / d[i]
            continue
        zss = np.empty((len(S), len(S)))
        for a, sa in enumerate(S):
            ca = col[sa]
            zss[a, a] = ca[sa]
            for b in range(a + 1, len(S)):
                zss[a, b] = zss[b, a] = ca[S[b]]
        zsi = -(zss @ li)
        ci = col[i]
        for s, z in zip(S, zsi, strict=True):
            ci[s] = z
        ci[i] = 1.0 / d[i] - float(li @ zsi)
    rows, cols, data = [], [], []
    for c, entries in enumerate(col):
        for rr, z in entries.items():
            rows.append(rr)
            cols.append(c)
            data.append(z)
            if rr != c:
                rows.append(c)
                cols.append(rr)
                data.append(z)
    return sp.csr_matrix((data, (rows, cols)), shape=(k, k))


def _symbolic_pattern(L: sp.csc_matrix) -> tuple[list[list[int]], list[np.ndarray]]:
    """Below-diagonal pattern of each column of `L`, closed under the elimination tree
    (a column's pattern includes its children's, minus itself), with `L`'s values on it
    (0 where SuperLU stored nothing)."""
    k = L.shape[0]
    children: list[list[int]] = [[] for _ in range(k)]
    struct: list[list[int]] = []
    vals: list[np.ndarray] = []
    indptr, indices, data = L.indptr, L.indices, L.data
    for i in range(k):
        lo, hi = indptr[i], indptr[i + 1]
        own = {int(r): float(x) for r, x in zip(indices[lo:hi], data[lo:hi], strict=True)
               if r > i}
        s = set(own)
        for c in children[i]:
            s.update(struct[c])
        s.discard(i)
        S = sorted(s)
        struct.append(S)
        vals.append(np.array([own.get(r, 0.0) for r in S]))
        if S:
            children[S[0]].append(i)
    return struct, vals
