"Task kinds and finite pools across modules: unchanged linear draws and keys, second moments, every learner against a reference, the Bayes risk, and cells of every kind end to end."
import hashlib, itertools, math
import pytest
import torch
from icl_study.config import RunConfig, TaskConfig, ModelConfig, TrainConfig, EvalConfig, ConfigError, override, config_hash, train_hash
from icl_study.tasks import (FUNCTIONS, TaskStream, eval_tasks, sample_tasks, generator, task_pool, zero_mse, label_noise,
                             function_options)
from icl_study.baselines import least_squares, ridge, lasso, bayes_lam, mse, nmse, nmse_least_squares
from icl_study import learners as L
from icl_study.evaluate import run_cell, run_cells, baseline_table


def _digest(t) -> str:
    return hashlib.sha256(b''.join(x.contiguous().numpy().tobytes() for x in (t.xs, t.ys, t.xq, t.yq, t.w))).hexdigest()[:16]


# digests and keys computed on the code before task kinds existed
def test_linear_draws_unchanged():
    assert _digest(eval_tasks(TaskConfig(), EvalConfig(n_tasks=16))) == '6327bb0b6d3bc749'
    assert _digest(eval_tasks(TaskConfig(noise=0.5, x_dist='anisotropic', out_dim=2), EvalConfig(n_tasks=16), n_points=40)) == 'd150485000ba565c'
    s = TaskStream(RunConfig()); s()
    assert _digest(s(8)) == '1df1ff1cfc882dab'
    assert _digest(sample_tasks(TaskConfig(x_dist='uniform', noise=0.1), 8, generator(5))) == '8cdb8deee82f910f'


def test_keys_unchanged_at_defaults():
    c = RunConfig(task=TaskConfig(function='linear', options={}, pool=None))
    assert (config_hash(c), train_hash(c)) == ('d529904046c0', '49e1447585bc')
    c2 = override(RunConfig(), {'task.noise': 0.5, 'task.d': 3, 'model.attention': 'gqa', 'model.attn_options': {'kv_heads': 2}, 'seed': 3})
    assert (config_hash(c2), train_hash(c2)) == ('4c58663d5b1a', 'e92b6d17dba2')
    keys = {config_hash(override(c2, kv)) for kv in ({'task.pool': 8}, {'task.function': 'noisy_linear'},
                                                      {'task.function': 'noisy_linear', 'task.options': {'noise': 0.1}})}
    assert len(keys) == 3 and config_hash(c2) not in keys


def test_overrides_from_the_command_line():
    c = override(RunConfig(), {'task.function': 'sparse_linear', 'task.options': '{"k": 3}', 'task.pool': '16'})
    assert (c.task.function, c.task.options, c.task.pool) == ('sparse_linear', {'k': 3}, 16)
    assert override(c, {'task.pool': 'none'}).task.pool is None
    with pytest.raises(ConfigError, match='task.options.k: must be in'): override(c, {'task.options': '{"k": 30}'})
    with pytest.raises(ConfigError, match='task.pool: must be positive'): override(c, {'task.pool': '-1'})


@pytest.mark.parametrize('name', list(FUNCTIONS))
def test_second_moment(name):
    xs = ('isotropic',) if name == 'sparse_parity' else ('isotropic', 'uniform', 'anisotropic')
    for x_dist in xs:
        tc = TaskConfig(d=5, function=name, x_dist=x_dist, noise=0.3, **({} if name == 'sparse_parity' else {'w_scale': 0.7}))
        b = sample_tasks(tc, 100_000, generator(7, 'test'), n_points=0, dtype=torch.float64)
        y2 = b.yq.square().flatten()
        assert abs(y2.mean().item() - zero_mse(tc)) < 5 * y2.std().item() / math.sqrt(len(y2)), (name, x_dist)


def test_every_kind_checks_its_options():
    for name, kind in FUNCTIONS.items():
        TaskConfig(function=name, options=dict(kind.defaults), pool=3)               # its defaults are allowed
        with pytest.raises(ConfigError, match=f'task.options: must name options of function {name}'):
            TaskConfig(function=name, options={'nope': 1})
    with pytest.raises(ConfigError, match='task.function: must be one of linear, noisy_linear, sparse_linear, relu_net, decision_tree, sparse_parity'):
        TaskConfig(function='quadratic')
    with pytest.raises(ConfigError, match='task.w_scale: must be 1 for function sparse_parity'):
        TaskConfig(function='sparse_parity', w_scale=2.)


def test_pool_draws_only_pool_tasks_and_depends_on_the_run_seed():
    cfg = RunConfig(task=TaskConfig(d=3, n_points=4, function='relu_net', options={'width': 8}, pool=5), seed=2)
    s, pool = TaskStream(cfg), task_pool(cfg.task, 2)
    b = s(64)
    same = (b.params['hidden'][:, None] == pool.params['hidden'][None]).flatten(2).all(-1)   # (64, 5)
    assert (same.sum(1) == 1).all() and same.any(0).sum() >= 4
    assert not torch.equal(task_pool(cfg.task, 3).params['hidden'], pool.params['hidden'])
    ev = eval_tasks(cfg.task, EvalConfig(n_tasks=32), pool=pool)
    assert ((ev.params['out'][:, None] == pool.params['out'][None]).flatten(2).all(-1).sum(1) == 1).all()


# ---- learners against references


def test_oracle_is_least_squares_on_the_support():
    tc = TaskConfig(d=8, n_points=6, function='sparse_linear', options={'k': 3}, noise=0.1)
    b = sample_tasks(tc, 20, generator(0, 'test'), dtype=torch.float64)
    p = L.oracle_ls(b.xs, b.ys, b.xq, support=b.params['support'])
    for i in range(20):
        S = b.params['support'][i]
        ref = torch.linalg.lstsq(b.xs[i][:, S], b.ys[i]).solution                            # (k, o)
        torch.testing.assert_close(p[i], b.xq[i, S] @ ref)


def test_sparse_learners_rank_as_expected():
    tc = TaskConfig(d=10, n_points=6, function='sparse_linear', options={'k': 2}, noise=0.05)
    b = sample_tasks(tc, 400, generator(1, 'test'), dtype=torch.float64)
    err = {k: mse(f, b.yq).mean().item() for k, f in
           (('least_squares', least_squares(b.xs, b.ys, b.xq)), ('lasso', lasso(b.xs, b.ys, b.xq, alpha=0.01)),
            ('oracle_ls', L.oracle_ls(b.xs, b.ys, b.xq, support=b.params['support'])))}
    assert err['oracle_ls'] < err['lasso'] < 0.5 * err['least_squares'], err


def test_relu_fit_lowers_the_training_error_and_beats_least_squares():
    tc = TaskConfig(d=2, n_points=40, function='relu_net', options={'width': 50})
    b = sample_tasks(tc, 200, generator(2, 'test'), dtype=torch.float64)
    curve = []
    p = L.relu_fit(b.xs, b.ys, b.xq, width=50, steps=300, losses=curve)
    assert curve[-1] < 0.02 * curve[0]
    assert mse(p, b.yq).mean() < 0.7 * mse(least_squares(b.xs, b.ys, b.xq), b.yq).mean()


def test_greedy_tree_is_sklearns_tree_on_every_task():
    from sklearn.tree import DecisionTreeRegressor
    tc = TaskConfig(d=5, n_points=20, out_dim=2, function='decision_tree')
    b = sample_tasks(tc, 10, generator(3, 'test'), dtype=torch.float64)
    p = L.greedy_tree(b.xs, b.ys, b.xq, depth=4)
    for i in range(10):
        ref = DecisionTreeRegressor(max_depth=4, random_state=0).fit(b.xs[i].numpy(), b.ys[i].numpy()).predict(b.xq[i:i + 1].numpy())
        torch.testing.assert_close(p[i], torch.as_tensor(ref[0]))


def test_consistent_subsets_is_the_posterior_mean():
    tc = TaskConfig(d=6, n_points=5, function='sparse_parity', options={'k': 3})
    b = sample_tasks(tc, 60, generator(4, 'test'), dtype=torch.float64)
    p = L.consistent_subsets(b.xs, b.ys, b.xq, k=3, chunk=500)
    for i in range(60):
        good = [S for S in itertools.combinations(range(6), 3) if all(b.xs[i, j, list(S)].prod() == b.ys[i, j, 0] for j in range(5))]
        assert good and math.isclose(p[i, 0].item(), sum(b.xq[i, list(S)].prod().item() for S in good) / len(good), abs_tol=1e-12)
    many = sample_tasks(tc, 100, generator(5, 'test'), n_points=60)
    assert torch.equal(L.consistent_subsets(many.xs, many.ys, many.xq, k=3), many.yq)        # enough points: exact
    assert (L.accuracy(p, b.yq) > 0.5).float().mean() > 0.5


def test_dmmse_against_a_loop_its_limits_and_ridge():
    tc = TaskConfig(d=4, n_points=6, out_dim=2, noise=0.4, pool=9)
    pool = task_pool(tc, 1)
    b = sample_tasks(tc, 30, generator(6, 'test'), dtype=torch.float64, pool=pool)
    W = pool.w.double()
    ref = []
    for i in range(30):
        logp = torch.stack([-(b.ys[i] - b.xs[i] @ Wm.T).square().sum() / (2 * 0.4 ** 2) for Wm in W])
        ref.append(torch.einsum('m,mod,d->o', torch.softmax(logp, 0), W, b.xq[i]))
    torch.testing.assert_close(L.dmmse(b.xs, b.ys, b.xq, pool.w, 0.4, chunk=7 * 18), torch.stack(ref))
    clean = sample_tasks(TaskConfig(d=4, n_points=6, out_dim=2, pool=9), 30, generator(6, 'test'), dtype=torch.float64, pool=pool)
    torch.testing.assert_close(L.dmmse(clean.xs, clean.ys, clean.xq, pool.w, 0.), clean.yq)
    # a growing pool approaches ridge at the Bayes lambda (the posterior mean under the Gaussian prior)
    g = TaskConfig(d=2, n_points=4, noise=0.5)
    t = sample_tasks(g, 500, generator(7, 'test'), dtype=torch.float64)
    r = ridge(t.xs, t.ys, t.xq, lam=bayes_lam(0.5))
    gaps = [(L.dmmse(t.xs, t.ys, t.xq, task_pool(TaskConfig(d=2, pool=M), 0).w, 0.5) - r).square().mean().item() for M in (8, 256, 2 ** 15)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.01 * gaps[0], gaps


@pytest.mark.parametrize('n', [0, 3, 5, 8, 20])
def test_bayes_risk_against_monte_carlo(n):
    for tc in (TaskConfig(d=5, function='noisy_linear'), TaskConfig(d=5, function='noisy_linear', options={'noise': 1.}, x_scale=0.5, w_scale=2.)):
        b = sample_tasks(tc, 100_000, generator(n, 'bayes'), n_points=n, dtype=torch.float64)
        e = mse(ridge(b.xs, b.ys, b.xq, lam=bayes_lam(label_noise(tc), tc.w_scale)), b.yq)
        risk, se = L.bayes_risk(tc, n, se=True)
        assert abs(e.mean().item() - risk) < 4 * math.hypot(e.std().item() / math.sqrt(len(e)), se), (tc, n)


def test_bayes_risk_limits():
    assert math.isclose(L.nmse_bayes(TaskConfig(d=20, function='noisy_linear', w_scale=1e4), 40),
                        nmse_least_squares(20, 40, noise=0.5 / 1e4), rel_tol=2e-3)             # lambda -> 0: least squares
    with pytest.raises(ValueError, match='Gaussian inputs'): L.bayes_risk(TaskConfig(function='noisy_linear', x_dist='uniform'), 5)


# ---- every kind end to end


def _cell(task, **ev) -> RunConfig:
    return RunConfig(task=task, model=ModelConfig(d_model=16, n_heads=2, num_layers=1),
                     train=TrainConfig(steps=6, batch_size=16, warmup=2), eval=EvalConfig(n_tasks=48, bootstrap=20, align='last', **ev))


@pytest.mark.parametrize('name', list(FUNCTIONS))
def test_every_kind_trains_and_records_its_baselines(name):
    opts = {'relu_net': {'width': 16}}.get(name, {})
    for pool in (None, 4):
        cfg = _cell(TaskConfig(d=4, n_points=10, function=name, options=opts, pool=pool), lengths=(14,))
        rows = run_cell(cfg)
        assert rows.status.unique().tolist() == ['ok']
        base = rows[rows.step.isna() & (rows.metric == 'nmse')]
        fresh = set(base[base.condition.isna()].predictor)
        assert fresh == set(L.kind_baselines(cfg.task))
        if pool: assert set(base[base.condition == 'pool'].predictor) == fresh
        else: assert 'pool' not in set(rows.condition.dropna())
        metrics = set(rows.metric)
        assert ('accuracy' in metrics) == (name == 'sparse_parity')
        assert ('excess' in metrics) == (name == 'noisy_linear')
        assert rows.query("predictor == 'model' and metric == 'nmse'").value.notna().all()


def test_pooled_seeds_train_together_with_their_own_pools():
    cfg = _cell(TaskConfig(d=3, n_points=6, function='noisy_linear', pool=3))
    two = run_cells([cfg, override(cfg, {'seed': 1})])
    dm = [r.query("condition == 'pool' and predictor == 'dmmse' and metric == 'nmse'").value.item() for r in two]
    assert dm[0] != dm[1]                                                                  # a pool per run seed


def test_baseline_table_of_a_kind():
    t = baseline_table(TaskConfig(d=4, function='sparse_parity', options={'k': 2}), [4, 40], EvalConfig(n_tasks=200, bootstrap=20))
    acc = t.set_index(['predictor', 'n_points']).accuracy
    assert acc['consistent_subsets', 40] == 1. and acc['zero', 4] == 0.5
