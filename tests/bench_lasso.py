"""Benchmark: batched LASSO (`icl_study.baselines.lasso`) against a per-task scikit-learn loop.

Run from the repository root:  .venv/bin/python tests/bench_lasso.py  [--tasks 1000 --d 20 --n 40 --alpha 0.1]

Both solve sklearn's objective |y - Xw|^2/(2n) + alpha |w|_1 (no intercept) on the same tasks, one thread each.
Prints the wall time of each (best of --repeats, interleaved), the speed-up over sklearn, the MSE of each on the query
targets, and how far each prediction is from the exact LASSO (sklearn at tol 1e-12, untimed). Not a test: pytest does
not collect it.
"""
import argparse, math, time, warnings
import numpy as np
import torch
from sklearn.linear_model import Lasso
from icl_study.baselines import lasso
from icl_study.config import TaskConfig
from icl_study.tasks import generator, sample_tasks


def sklearn_loop(xs, ys, xq, alpha, **kw):
    "Fit one sklearn Lasso per task (default tol 1e-4 unless given) and predict at the queries: (B,)."
    preds = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # sklearn warns when its own tolerance is not met
        for x, y, q in zip(xs, ys, xq):
            preds.append(Lasso(alpha=alpha, fit_intercept=False, **kw).fit(x, y).predict(q[None])[0])
    return np.array(preds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tasks', type=int, default=1000)
    ap.add_argument('--d', type=int, default=20)
    ap.add_argument('--n', type=int, default=40)
    ap.add_argument('--alpha', type=float, default=0.1)
    ap.add_argument('--repeats', type=int, default=5)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)  # sklearn's coordinate descent is single-threaded: compare like with like
    t = sample_tasks(TaskConfig(d=args.d), args.tasks, generator(args.seed, 'bench'), n_points=args.n, dtype=torch.float64)
    xs, ys, xq, yq = t.xs.numpy(), t.ys[..., 0].numpy(), t.xq.numpy(), t.yq[:, 0].numpy()
    runs = {'sklearn loop (float64)': lambda: sklearn_loop(xs, ys, xq, args.alpha)}
    for dtype in (torch.float64, torch.float32):
        a = [v.to(dtype) for v in (t.xs, t.ys, t.xq)]
        runs[f'batched      ({str(dtype)[6:]})'] = lambda a=a: lasso(*a, alpha=args.alpha)[:, 0].double().numpy()
    best, preds = {k: math.inf for k in runs}, {}
    for _ in range(args.repeats):  # interleaved, best of `repeats`: robust to other load on the machine
        for k, f in runs.items():
            t0 = time.perf_counter(); preds[k] = f(); best[k] = min(best[k], time.perf_counter() - t0)
    exact = sklearn_loop(xs, ys, xq, args.alpha, tol=1e-12, max_iter=10**6)  # reference solution, untimed
    print(f"{args.tasks} tasks, d={args.d}, n={args.n}, alpha={args.alpha}, torch {torch.__version__}, 1 thread, "
          f"best of {args.repeats}")
    t_sk = best['sklearn loop (float64)']
    for k, p in preds.items():
        print(f"{k}: {best[k] * 1e3:7.1f} ms  speed-up {t_sk / best[k]:5.1f}x  MSE {((p - yq) ** 2).mean():.6f}  "
              f"max |pred - exact LASSO| {np.abs(p - exact).max():.1e}")


if __name__ == '__main__':
    main()
