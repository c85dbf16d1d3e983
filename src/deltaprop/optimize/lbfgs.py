"""L-BFGS as compiled kernels (Nocedal 1980; Liu and Nocedal 1989), for the fused training loop.

SciPy's ``minimize(method="L-BFGS-B")`` returns to Python for every evaluation of E and its gradient,
which on a small network costs more than the evaluation (measured: 13-20-1 on Boston's 455 rows, 55 us of
a 115 us iteration). These kernels take the steps SciPy's L-BFGS-B takes on a problem without bounds
(Byrd, Lu, Nocedal and Zhu 1995), with its constants and rules: a memory of ``MEMORY`` pairs (s, y) and
H0 = I / theta, theta = y^T y / s^T y of the newest pair (the two-loop recursion gives the direction
-H g that L-BFGS-B's compact form gives); the first step 1 / ||d|| from the first iterate, 1 after (and from the first where a run starts with
another's pairs, ``train(init=result)``: its direction is then scaled by their curvature);
the line search of More and Thuente (1994; MINPACK-2's dcsrch and dcstep) for the strong Wolfe
conditions with ftol 1e-3, gtol 0.9, xtol 0.1, at most ``MAX_EVALUATIONS`` evaluations; a pair skipped
where s^T y <= eps (-g^T s); a failed line search restores the iterate and starts again from steepest
descent, and stops where steepest descent fails too. The iterates agree with SciPy's to rounding: the
two-loop recursion and the compact form sum in different orders.

Each kernel works on numbers and arrays alone (no network): ``two_loop`` and ``line_search`` are called
by ``deltaprop.training.fused_lbfgs.run_lbfgs`` between its evaluations.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..fixed_order import dot

JIT = dict(cache=True, error_model="numpy", nogil=True)  # as deltaprop.fast.kernels

MEMORY = 10  # SciPy's maxcor
#: The relative-change tolerances are tested after this many iterations of a run, once L-BFGS holds its MEMORY
#: pairs (SciPy tests them from the first): its first step goes down the gradient by a guessed length, 1 / ||g||,
#: and its next ones rest on few pairs, so a small fall there says little of a minimum. From a warm start near one,
#: where the gradient is small, they stopped runs at once that had far to go (a 1-5-1 network started at the
#: minimum for a weight decay of 1e-3 and trained at 3e-3 fell by about 1e-5 of its objective in its first
#: iteration and stopped there at tol 1e-4, over 1.3% above where 200 iterations reach; the evidence's cycles on
#: yacht with hessian="ggn" and a tolerance of 1e-7 trained one or two iterations each, leaving w where it was).
TOLERANCE_AFTER = MEMORY
FTOL, GTOL, XTOL = 1e-3, 0.9, 0.1  # the strong Wolfe conditions of L-BFGS-B's line search
STEP_MAX = 1e10  # L-BFGS-B's largest step without bounds
MAX_EVALUATIONS = 20  # of one line search; L-BFGS-B's iback
EPS = np.finfo(np.float64).eps

#: What ``line_search`` asks next, or how it ended (MINPACK-2's task strings).
START, FG, CONVERGENCE, WARNING, ERROR = 0, 1, 2, 3, 4
#: The slots of a line search's state (dcsrch's isave and dsave).
BRACKT, STAGE, GINIT, GTEST, GX, GY, FINIT, FX, FY, STX, STY, STMIN, STMAX, WIDTH, WIDTH1 = range(15)
STATE_SIZE = 15


@nb.njit(**JIT)
def two_loop(g, S, Y, rho, newest, count, theta, d):
    """d = -H g, H the L-BFGS inverse Hessian of the ``count`` newest pairs (s, y) in rows of S and Y, the
    newest in row ``newest``, rotating, and H0 = I / theta (Nocedal and Wright 2006, Algorithm 7.4). Its 2 count
    dot products are ``fixed_order.dot``'s: summed one term at a time, each addition waiting on the last, they
    took 4 of the 43 us of an iteration of 13-20-1 (301 weights) on 455 rows (measured)."""
    m = S.shape[0]
    P = g.size
    alpha = np.empty(count)
    for i in range(P):
        d[i] = -g[i]
    for j in range(count):
        k = (newest - j) % m
        a = dot(S[k], d, P) * rho[k]
        alpha[j] = a
        for i in range(P):
            d[i] -= a * Y[k, i]
    for i in range(P):
        d[i] /= theta
    for j in range(count - 1, -1, -1):
        k = (newest - j) % m
        b = dot(Y[k], d, P) * rho[k]
        for i in range(P):
            d[i] += (alpha[j] - b) * S[k, i]


@nb.njit(**JIT)
def _cstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """A safeguarded trial step, and the interval that brackets a step satisfying the strong Wolfe
    conditions updated (More and Thuente 1994, MINPACK-2's dcstep): the cubic or quadratic step of four
    cases. Returns (stx, fx, dx, sty, fy, dy, stp, brackt)."""
    sgnd = np.sign(dp) * np.sign(dx)
    if fp > fx:  # a higher function value: the minimum is bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * np.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) <= abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0.0:  # derivatives of opposite sign: bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * np.sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        stpc = stp + (p / q) * (stx - stp)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):  # same sign, the derivative's magnitude falling
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * np.sqrt(max(0.0, (theta / s) ** 2 - (dx / s) * (dp / s)))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0.0 and gamma != 0.0:
            stpc = stp + r * (stx - stp)
        elif stp > stx:
            stpc = stpmax
        else:
            stpc = stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            if stp > stx:
                stpf = min(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = max(stp + 0.66 * (sty - stp), stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = min(stpmax, stpf)
            stpf = max(stpmin, stpf)
    else:  # same sign, the magnitude not falling
        if brackt:
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            s = max(abs(theta), abs(dy), abs(dp))
            gamma = s * np.sqrt((theta / s) ** 2 - (dy / s) * (dp / s))
            if stp > sty:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dy
            stpf = stp + (p / q) * (sty - stp)
        elif stp > stx:
            stpf = stpmax
        else:
            stpf = stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0.0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


@nb.njit(**JIT)
def line_search(f, g, stp, task, state, stpmax):
    """One call of More and Thuente's line search (MINPACK-2's dcsrch) by reverse communication: given
    phi(stp) = f and phi'(stp) = g (at task START: phi(0) and phi'(0) < 0, and a first trial step), return
    (the next step, task): FG asks for phi and phi' there; CONVERGENCE, the strong Wolfe conditions hold at
    it; WARNING, no further progress (rounding, or an interval under xtol); ERROR, bad input. ``state``
    (``STATE_SIZE`` numbers) carries the search between calls."""
    if task == START:
        if stp < 0.0 or stp > stpmax or g >= 0.0:
            return stp, ERROR
        state[BRACKT], state[STAGE] = 0.0, 1.0
        state[FINIT], state[GINIT], state[GTEST] = f, g, FTOL * g
        state[WIDTH] = stpmax
        state[WIDTH1] = stpmax / 0.5
        state[STX], state[FX], state[GX] = 0.0, f, g
        state[STY], state[FY], state[GY] = 0.0, f, g
        state[STMIN], state[STMAX] = 0.0, stp + 4.0 * stp
        return stp, FG
    brackt = state[BRACKT] != 0.0
    gtest = state[GTEST]
    ftest = state[FINIT] + stp * gtest
    if state[STAGE] == 1.0 and f <= ftest and g >= 0.0:
        state[STAGE] = 2.0
    stmin, stmax = state[STMIN], state[STMAX]
    task = FG
    if brackt and (stp <= stmin or stp >= stmax):
        task = WARNING
    if brackt and stmax - stmin <= XTOL * stmax:
        task = WARNING
    if stp == stpmax and f <= ftest and g <= gtest:
        task = WARNING
    if stp == 0.0 and (f > ftest or g >= gtest):
        task = WARNING
    if f <= ftest and abs(g) <= GTOL * -state[GINIT]:
        task = CONVERGENCE
    if task != FG:
        return stp, task
    stx, fx, gx, sty, fy, gy = state[STX], state[FX], state[GX], state[STY], state[FY], state[GY]
    if state[STAGE] == 1.0 and f <= fx and f > ftest:  # the modified function psi until a step satisfies 5.3
        stx, fxm, gxm, sty, fym, gym, stp, brackt = _cstep(stx, fx - stx * gtest, gx - gtest, sty, fy - sty * gtest,
                                                            gy - gtest, stp, f - stp * gtest, g - gtest, brackt,
                                                            stmin, stmax)
        fx, fy, gx, gy = fxm + stx * gtest, fym + sty * gtest, gxm + gtest, gym + gtest
    else:
        stx, fx, gx, sty, fy, gy, stp, brackt = _cstep(stx, fx, gx, sty, fy, gy, stp, f, g, brackt, stmin, stmax)
    if brackt:
        if abs(sty - stx) >= 0.66 * state[WIDTH1]:
            stp = stx + 0.5 * (sty - stx)
        state[WIDTH1] = state[WIDTH]
        state[WIDTH] = abs(sty - stx)
        stmin, stmax = min(stx, sty), max(stx, sty)
    else:
        stmin, stmax = stp + 1.1 * (stp - stx), stp + 4.0 * (stp - stx)
    stp = min(max(stp, 0.0), stpmax)
    if brackt and (stp <= stmin or stp >= stmax or stmax - stmin <= XTOL * stmax):
        stp = stx
    state[BRACKT] = 1.0 if brackt else 0.0
    state[STX], state[FX], state[GX], state[STY], state[FY], state[GY] = stx, fx, gx, sty, fy, gy
    state[STMIN], state[STMAX] = stmin, stmax
    return stp, FG
