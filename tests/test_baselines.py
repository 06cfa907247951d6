"""Baselines against independent references (numpy, scikit-learn) on single tasks, and against their closed forms by
Monte Carlo. The benchmark of the batched LASSO is `tests/bench_lasso.py` (not collected)."""
import math, warnings
import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, Ridge
from sklearn.neighbors import KNeighborsRegressor
from icl_study.baselines import (BASELINES, averaging, bayes_lam, fit_gd_step, gd_1step, gd_kstep, knn, lasso,
                                 least_squares, mse, nmse, nmse_averaging, nmse_gd_1step, nmse_least_squares,
                                 optimal_gd_step, ridge, zero)
from icl_study.config import TaskConfig
from icl_study.tasks import generator, sample_tasks, zero_mse




def tasks(d, n, n_tasks, noise=0., out_dim=1, seed=0, dtype=torch.float64):
    return sample_tasks(TaskConfig(d=d, noise=noise, out_dim=out_dim), n_tasks, generator(seed, 'test'), n_points=n, dtype=dtype)


def per_task(t):
    "numpy views (X, Y, q) of each task."
    return [(t.xs[i].numpy(), t.ys[i].numpy(), t.xq[i].numpy()) for i in range(len(t))]


# --- the contract, for every registered predictor -------------------------------------------------------------------

@pytest.mark.parametrize('name', sorted(BASELINES))
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_contract(name, dtype):
    f = BASELINES[name]
    for n, o in ((7, 1), (3, 2), (12, 3)):  # more and fewer points than dimensions, one or several outputs
        t = tasks(5, n, 6, noise=0.1, out_dim=o, dtype=dtype)
        p = f(t.xs, t.ys, t.xq)
        assert p.shape == (6, o) and p.dtype == dtype and torch.isfinite(p).all()
        torch.testing.assert_close(f(t.xs[2:3], t.ys[2:3], t.xq[2:3]), p[2:3])  # tasks are independent
        torch.testing.assert_close(f(t.xs, t.ys, t.xq), p)                      # deterministic
    assert (f(t.xs[:, :0], t.ys[:, :0], t.xq) == 0).all()                      # empty context: predict 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
@pytest.mark.parametrize('name', sorted(BASELINES))
def test_cuda_matches_cpu(name):
    t = tasks(5, 9, 16, noise=0.1, out_dim=2)
    p = BASELINES[name](t.xs.cuda(), t.ys.cuda(), t.xq.cuda())
    assert p.device.type == 'cuda'
    torch.testing.assert_close(p.cpu(), BASELINES[name](t.xs, t.ys, t.xq), rtol=1e-6, atol=1e-6)


def test_scores():
    t = tasks(4, 3, 20000, noise=0.5)
    assert mse(torch.ones(2, 3), torch.zeros(2, 3)).tolist() == [1., 1.]
    e = nmse(zero(t.xs, t.ys, t.xq), t.yq, zero_mse(TaskConfig(d=4, noise=0.5)))
    assert abs(e.mean().item() - 1) < 4 * e.std().item() / math.sqrt(len(e))


# --- independent references on single tasks -------------------------------------------------------------------------

@pytest.mark.parametrize('n', [5, 20, 40])
def test_least_squares_vs_numpy_lstsq(n):
    t = tasks(20, n, 8, noise=0.3, out_dim=2)
    want = [q @ np.linalg.lstsq(X, Y, rcond=None)[0] for X, Y, q in per_task(t)]
    np.testing.assert_allclose(least_squares(t.xs, t.ys, t.xq).numpy(), np.stack(want), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize('n', [5, 40])
@pytest.mark.parametrize('lam', [0.01, 1., 10.])
def test_ridge_vs_sklearn(n, lam):
    t = tasks(20, n, 8, noise=0.3, out_dim=2)
    want = [Ridge(alpha=lam, fit_intercept=False).fit(X, Y).predict(q[None])[0] for X, Y, q in per_task(t)]
    np.testing.assert_allclose(ridge(t.xs, t.ys, t.xq, lam=lam).numpy(), np.stack(want), rtol=1e-7, atol=1e-8)
    torch.testing.assert_close(ridge(t.xs, t.ys, t.xq, lam=0.), least_squares(t.xs, t.ys, t.xq))


def sklearn_lasso(t, alpha):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return np.stack([Lasso(alpha=alpha, fit_intercept=False, tol=1e-12, max_iter=10**6).fit(X, Y).predict(q[None])[0]
                         for X, Y, q in per_task(t)]).reshape(len(t), -1)


@pytest.mark.parametrize('n,alpha', [(40, 0.1), (20, 0.1), (10, 0.1), (40, 0.01), (10, 0.5)])
def test_lasso_vs_sklearn(n, alpha):
    t = tasks(20, n, 20, noise=0.1, out_dim=2, seed=n)
    want = sklearn_lasso(t, alpha)
    np.testing.assert_allclose(lasso(t.xs, t.ys, t.xq, alpha=alpha).numpy(), want, rtol=1e-6, atol=1e-6)
    got32 = lasso(t.xs.float(), t.ys.float(), t.xq.float(), alpha=alpha)
    np.testing.assert_allclose(got32.double().numpy(), want, rtol=1e-3, atol=1e-3)


def test_lasso_sparse_recovery():
    "With a sparse w*, the LASSO recovers it from fewer points than dimensions (least squares cannot)."
    g = torch.Generator().manual_seed(0)
    xs, xq = torch.randn(200, 10, 20, generator=g, dtype=torch.float64), torch.randn(200, 20, generator=g, dtype=torch.float64)
    w = torch.zeros(200, 20, 1, dtype=torch.float64); w[:, :2] = torch.randn(200, 2, 1, generator=g, dtype=torch.float64)
    ys, yq = xs @ w, (xq[:, None] @ w)[:, 0]
    assert mse(lasso(xs, ys, xq, alpha=0.01), yq).mean() < 0.2 * mse(least_squares(xs, ys, xq), yq).mean()


def test_lasso_warns_when_unfinished():
    t = tasks(20, 5, 50)
    with pytest.warns(UserWarning, match='did not converge'):
        lasso(t.xs, t.ys, t.xq, alpha=0.01, iters=15)
    with pytest.raises(ValueError, match='alpha'):
        lasso(t.xs, t.ys, t.xq, alpha=0.)


@pytest.mark.parametrize('k', [1, 3, 5])
def test_knn_vs_sklearn(k):
    t = tasks(6, 15, 10, noise=0.3, out_dim=2)
    want = [KNeighborsRegressor(n_neighbors=k).fit(X, Y).predict(q[None])[0] for X, Y, q in per_task(t)]
    np.testing.assert_allclose(knn(t.xs, t.ys, t.xq, k=k).numpy(), np.stack(want), rtol=1e-12, atol=1e-12)


def numpy_gd(X, Y, q, k, eta=None):
    "k GD steps from 0 on |Y - X w|^2/(2n), step 1/lambda_max(X^T X/n) by default."
    n = len(X)
    G, b = X.T @ X / n, X.T @ Y / n
    eta = 1 / np.linalg.eigvalsh(G)[-1] if eta is None else eta
    w = np.zeros_like(b)
    for _ in range(k): w = w - eta * (G @ w - b)
    return q @ w


@pytest.mark.parametrize('n', [5, 30])
def test_gradient_descent_vs_numpy(n):
    t = tasks(10, n, 8, noise=0.2, out_dim=2)
    for k, eta in ((1, None), (7, None), (3, 0.05)):
        want = np.stack([numpy_gd(X, Y, q, k, eta) for X, Y, q in per_task(t)])
        np.testing.assert_allclose(gd_kstep(t.xs, t.ys, t.xq, k=k, eta=eta).numpy(), want, rtol=1e-9, atol=1e-10)
    want = np.stack([numpy_gd(X, Y, q, 1, 1.) for X, Y, q in per_task(t)])
    np.testing.assert_allclose(averaging(t.xs, t.ys, t.xq).numpy(), want, rtol=1e-12, atol=1e-12)
    eta = optimal_gd_step(10, n)
    torch.testing.assert_close(gd_1step(t.xs, t.ys, t.xq), gd_kstep(t.xs, t.ys, t.xq, k=1, eta=eta))


def test_gd_converges_to_least_squares():
    for n in (8, 40):  # GD from 0 stays in the row space: the minimum-norm solution, also when n < d
        t = tasks(20, n, 50, noise=0.2)
        torch.testing.assert_close(gd_kstep(t.xs, t.ys, t.xq, k=3000), least_squares(t.xs, t.ys, t.xq), rtol=1e-6, atol=1e-6)


# --- closed forms, by Monte Carlo at d = 20 -------------------------------------------------------------------------

def mc(f, n, noise, n_tasks=4000, **hyper):
    "Mean normalised MSE of f and its standard error, on isotropic tasks with d = 20."
    t = tasks(20, n, n_tasks, noise=noise, seed=1000 + n)
    e = nmse(f(t.xs, t.ys, t.xq, **hyper), t.yq, zero_mse(TaskConfig(d=20, noise=noise)))
    return e.mean().item(), e.std().item() / math.sqrt(n_tasks)


@pytest.mark.parametrize('noise', [0., 0.5])
@pytest.mark.parametrize('n', [10, 20, 40])
def test_closed_forms(n, noise):
    cases = [(averaging, nmse_averaging(20, n, noise), {}),
             (gd_1step, nmse_gd_1step(20, n, noise), {'eta': optimal_gd_step(20, n, noise)}),
             (least_squares, nmse_least_squares(20, n, noise), {})]
    for f, want, hyper in cases:
        if math.isinf(want): continue  # noisy least squares at n = d: infinite expected error
        got, se = mc(f, n, noise, **hyper)
        assert abs(got - want) <= 4 * se + 1e-9, (f.__name__, n, noise, got, want, se)


def test_stated_formulas():
    "The formulas of the issue, noiseless: least squares max(d-n, 0)/d, averaging (d+1)/n, best GD step (d+1)/(n+d+1)."
    for d, n in ((20, 10), (20, 20), (20, 40), (5, 3)):
        assert nmse_least_squares(d, n) == max(d - n, 0) / d
        assert math.isclose(nmse_averaging(d, n), (d + 1) / n)
        assert math.isclose(nmse_gd_1step(d, n), (d + 1) / (n + d + 1))
        assert math.isclose(optimal_gd_step(d, n), n / (n + d + 1))


def test_fit_gd_step_finds_the_optimal_step():
    t = tasks(20, 20, 20000)
    assert abs(fit_gd_step(t.xs, t.ys, t.xq, t.yq) / optimal_gd_step(20, 20) - 1) < 0.03


def test_ridge_is_bayes_optimal():
    "At lam = noise^2/w_scale^2 ridge beats every other predictor on average (paired over the same tasks)."
    t = tasks(20, 30, 4000, noise=1.)
    best = mse(ridge(t.xs, t.ys, t.xq, lam=bayes_lam(1.)), t.yq)
    others = {'ridge/4': ridge(t.xs, t.ys, t.xq, lam=0.25), 'ridge*4': ridge(t.xs, t.ys, t.xq, lam=4.)}
    others.update({name: f(t.xs, t.ys, t.xq) for name, f in BASELINES.items()})
    for name, p in others.items():
        diff = mse(p, t.yq) - best                                      # paired differences
        assert diff.mean() > 2 * diff.std() / math.sqrt(len(diff)), name
