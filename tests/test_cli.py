"The `icl-study` console script: the baselines closed forms, training every family, evaluation, and bad input."
import io, json, os, subprocess, sys, contextlib
from pathlib import Path
import pandas as pd, pytest
from icl_study.cli import main, parser
from icl_study.attention.core import attention_names
from icl_study.config import TaskConfig, EvalConfig
from icl_study.evaluate import baseline_table

BIN = Path(sys.executable).parent / 'icl-study'
TINY = ['--d', 2, '--n-points', 6, '--layers', 1, '--d-model', 8, '--heads', 2, '--batch-size', 8, '--eval-tasks', 32]

def run(*argv):
    "Run `main(argv)` in-process: (exit code, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: main([str(a) for a in argv]); code = 0
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1; err.write('' if isinstance(e.code, int) else str(e.code))
    return code, out.getvalue(), err.getvalue()

def test_baselines_closed_forms():
    "The console script reproduces the isotropic noiseless closed forms (d = 20; n = 10, 20, 40)."
    r = subprocess.run([BIN, 'baselines', '--d', '20', '--n-points', '10,20,40', '--tasks', '20000', '--seed', '0',
                        '--bootstrap', '100'], capture_output=True, text=True, check=True)
    df = pd.read_csv(io.StringIO(r.stdout))
    assert {'predictor', 'n_points', 'mse', 'nmse'} <= set(df.columns)
    assert len(df) == 3 * 9 and set(df.predictor) == {'zero', 'averaging', 'least_squares', 'ridge', 'lasso', 'gd_1step', 'gd_precond', 'gd_kstep', 'knn'}
    cf = df.set_index(['predictor', 'n_points']).nmse
    d = 20
    for n in (10, 20, 40):
        assert cf['least_squares', n] == pytest.approx(max(d - n, 0) / d, rel=0.05, abs=1e-4)  # n = d is ill-conditioned in float32
        assert cf['averaging', n] == pytest.approx((d + 1) / n, rel=0.06)
        assert cf['gd_1step', n] == pytest.approx((d + 1) / (n + d + 1), rel=0.05)
        assert cf['zero', n] == pytest.approx(1, rel=0.05)

def test_baselines_task_flags():
    "`--x-scale`, `--x-dist anisotropic --rho`, `--w-scale` and `--set` reach the task: the table equals `baseline_table` of that task."
    code, out, err = run('baselines', '--d', 3, '--n-points', '4,8', '--tasks', 64, '--bootstrap', 10, '--x-dist', 'anisotropic',
                         '--rho', 0.9, '--x-scale', 2, '--w-scale', 0.5, '--set', 'task.noise=0.1', '--set', 'eval.seed=7')
    assert code == 0, err
    task = TaskConfig(d=3, n_points=8, x_dist='anisotropic', rho=0.9, x_scale=2., w_scale=0.5, noise=0.1)
    want = baseline_table(task, [4, 8], EvalConfig(n_tasks=64, bootstrap=10, seed=7))
    got = pd.read_csv(io.StringIO(out))
    pd.testing.assert_series_equal(got.nmse, want.nmse, rtol=1e-5, check_names=False)
    code, out2, err = run('baselines', '--d', 3, '--n-points', '4,8', '--tasks', 64, '--bootstrap', 10, '--x-dist', 'anisotropic',
                          '--spectrum', '1,2,3', '--set', 'eval.seed=7')
    assert code == 0 and out2 != out, err

# Bad values for every flag of every sub-command. `{out}` is a fresh folder path, `{file}` an existing file, `{ckpt}`
# a trained checkpoint. Each case must exit non-zero with exactly one line on stderr and write nothing.
HUGE, HUGE_SEED = '99999999999', str(2**63)
T = ['train', '--variant', 'softmax', '--out', '{out}']
S, R = ['sweep', 'steps', '--profile', 'smoke'], ['report', 'steps', '--profile', 'smoke']
BAD = [
    # top level
    ([], 'the following arguments are required: cmd'),
    (['bogus'], "invalid choice: 'bogus'"),
    # baselines: task flags
    *[(['baselines', f, v], m) for f in ('--d', '--out-dim') for v, m in
      (('-1', 'must be positive'), ('0', 'must be positive'), (HUGE, 'must fit in memory'), ('x', 'invalid int value'), ('nan', 'invalid int value'))],
    (['baselines', '--x-dist', 'laplace'], 'task.x_dist: must be one of isotropic, anisotropic, uniform'),
    *[(['baselines', f, v], m) for f in ('--x-scale', '--w-scale') for v, m in
      (('-1', 'must be positive'), ('0', 'must be positive'), ('1e300', 'must be at most 1e+06'), ('x', 'invalid float value'),
       ('nan', 'must be finite'), ('inf', 'must be finite'))],
    *[(['baselines', '--noise', v], m) for v, m in
      (('-0.1', 'task.noise: must be ≥ 0'), ('1e300', 'must be at most 1e+06'), ('x', 'invalid float value'), ('nan', 'must be finite'), ('inf', 'must be finite'))],
    (['baselines', '--spectrum', '1,2,3,4,5'], '--spectrum: only used with task.x_dist=anisotropic'),
    *[(['baselines', '--x-dist', 'anisotropic', '--spectrum', v], m) for v, m in
      (('1,2', 'task.spectrum: must be 5 positive finite'), ('1,2,3,4,-5', 'positive finite'), ('1,2,3,4,0', 'positive finite'),
       ('1,2,3,4,nan', 'positive finite'), ('1,2,3,4,inf', 'positive finite'), ('1,2,3,4,1e300', 'at most 1e+12'),
       ('a,b,c,d,e', 'task.spectrum: must be of type tuple'))],
    (['baselines', '--rho', '0.3'], '--rho: only used with task.x_dist=anisotropic'),
    *[(['baselines', '--x-dist', 'anisotropic', '--rho', v], m) for v, m in
      (('1', 'task.rho: must be in (-1, 1)'), ('-1', 'task.rho: must be in (-1, 1)'), ('1e300', 'must be in (-1, 1)'), ('nan', 'must be finite'), ('x', 'invalid float value'))],
    # baselines and train: the task kind's flags
    *[(sub + args, m) for sub in (['baselines'], T) for args, m in
      ((['--function', 'spline'], 'task.function: must be one of linear, noisy_linear'),
       (['--function', 'sparse_linear', '--option', 'k=9'], 'task.options.k: must be in [1, d=5]'),
       (['--function', 'sparse_parity', '--option', 'k=1.5'], 'task.options.k: must be of type int'),
       (['--option', 'k=2'], 'task.options: must name options of function linear'),
       (['--function', 'sparse_linear', '--option', 'k'], '--option: expected KEY=VALUE'),
       (['--pool', '0'], 'task.pool: must be positive'), (['--pool', '-3'], 'task.pool: must be positive'),
       (['--pool', 'x'], 'invalid int value'))],
    # baselines: evaluation flags
    *[(['baselines', '--seed', v], m) for v, m in
      (('-1', 'eval.seed: must be in [0, 2**63)'), (HUGE_SEED, 'eval.seed: must be in [0, 2**63)'), ('x', 'invalid int value'))],
    *[(['baselines', '--n-points', v], m) for v, m in
      (('0', 'positive integers'), ('-1', 'positive integers'), ('10,-1', 'positive integers'), ('10,x', 'positive integers'),
       ('', 'positive integers'), (HUGE, 'task.n_points: must fit in memory'))],
    *[(['baselines', f, v], m) for f, k in (('--tasks', 'eval.n_tasks'), ('--bootstrap', 'eval.bootstrap')) for v, m in
      (('-1', f'{k}: must be positive'), ('0', f'{k}: must be positive'), (HUGE, f'{k}: must fit in memory'), ('x', 'invalid int value'))],
    *[(['baselines', '--set', v], m) for v, m in
      (('task.d', '--set: expected KEY=VALUE'), ('task.bogus=1', 'task.bogus: unknown config key'), ('model.d_model=8', 'not used by this command'),
       ('task.n_points=5', 'use --n-points'), ('eval.ci=1.5', 'eval.ci: must be in (0, 1)'), ('task.d=x', 'task.d: must be of type int'),
       ('eval.n_tasks=nan', 'eval.n_tasks: must be of type int'), ('task.noise=inf', 'task.noise: must be finite'))],
    (['baselines', '--d', '3', '--set', 'task.d=4'], '--set task.d: already given by --d'),
    (['baselines', '--set', 'task.d=3', '--set', 'task.d=4'], '--set task.d: already given by --set task.d'),
    (['baselines', '--bogus', '3'], 'unrecognized arguments: --bogus 3'),
    # train
    (['train', '--out', '{out}'], 'the following arguments are required: --variant'),
    (['train', '--variant', 'softmax'], 'the following arguments are required: --out'),
    (['train', '--variant', 'bogus', '--out', '{out}'], '--variant: unknown'),
    *[(T + [f, v], m) for f in ('--d', '--out-dim', '--n-points', '--layers', '--d-model', '--heads', '--batch-size', '--eval-tasks')
      for v, m in (('-1', 'must be'), ('0', 'must be'), ('x', 'invalid int value'), ('nan', 'invalid int value'))],
    *[(T + [f, HUGE], m) for f, m in (('--d', 'task.d: must fit in memory'), ('--out-dim', 'task.out_dim: must fit in memory'),
                                      ('--n-points', 'task.n_points: must fit in memory'), ('--layers', 'model.num_layers: must fit in memory'),
                                      ('--d-model', 'model.d_model: must be divisible by n_heads=4'), ('--heads', 'must be divisible by n_heads='),
                                      ('--batch-size', 'train.batch_size: must fit in memory'), ('--eval-tasks', 'eval.n_tasks: must fit in memory'))],
    (T + ['--d-model', '99999999996'], 'model.d_model: must fit in memory'),
    (T + ['--heads', '3'], 'model.d_model: must be divisible by n_heads=3'),
    *[(T + ['--max-len', v], m) for v, m in (('-1', 'model.max_len: must be positive'), ('0', 'must be positive'), ('5', 'must be ≥ task.n_points + 1'), ('x', 'invalid int value'))],
    (['train', '--variant', 'lowrank', '--out', '{out}', '--max-len', HUGE], 'model.max_len: must fit in memory'),
    *[(T + ['--steps', v], m) for v, m in (('-1', 'train.steps: must be ≥ 0'), ('x', 'invalid int value'), ('1.5', 'invalid int value'))],
    *[(T + ['--lr', v], m) for v, m in (('-1', 'train.lr: must be positive'), ('0', 'must be positive'), ('nan', 'train.lr: must be finite'),
                                       ('inf', 'must be finite'), ('-inf', 'expected one argument'), ('x', 'invalid float value'))],
    *[(T + ['--seed', v], m) for v, m in (('-1', 'seed: must be in [0, 2**63)'), (HUGE_SEED, 'must be in [0, 2**63)'), ('x', 'invalid int value'))],
    *[(T + ['--device', v], m) for v, m in (('gpu', 'train.device: must be cpu, cuda, cuda:N or mps'), ('', 'must be cpu, cuda'),
                                           ('cuda:x', 'must be cpu, cuda'), ('meta', 'must be cpu, cuda'), ('cuda:99', 'must be a device this machine has'))],
    (T + ['--x-scale', 'nan'], 'task.x_scale: must be finite'), (T + ['--noise', '-1'], 'task.noise: must be ≥ 0'),
    (T + ['--w-scale', '1e300'], 'task.w_scale: must be at most'), (T + ['--x-dist', 'laplace'], 'task.x_dist: must be one of'),
    (T + ['--rho', '0.9'], '--rho: only used with'), (T + ['--spectrum', '1,2'], '--spectrum: only used with'),
    *[(T + ['--set', v], m) for v, m in (('model.layers=3', 'model.layers: unknown config key'), ('train.lr=abc', 'train.lr: must be of type float'),
                                        ('model.mlp_ratio=-1', 'model.mlp_ratio: must be ≥ 0'), ('seed', 'expected KEY=VALUE'),
                                        ('model.attention=x', '--set model.attention: already given by --variant'),
                                        ('train.device=gpu', 'train.device: must be'))],
    (T + ['--steps', '5', '--set', 'train.steps=6'], '--set train.steps: already given by --steps'),
    (T + ['--out', '{file}'], '--out: must be a folder path, not an existing file'),
    (['train', '--variant', 'softmax', '--out', '{file}/x'], '--out: must be under a folder'),
    (['train', '--variant', 'gqa', '--out', '{out}', '--kv-heads', '3'], 'kv_heads: must divide n_heads=4'),
    (['train', '--variant', 'gqa', '--out', '{out}', '--kv-heads', 'x'], 'kv_heads'),
    (['train', '--variant', 'sparse', '--out', '{out}', '--window', '-1'], 'window: must be a positive int'),
    (['train', '--variant', 'sparse', '--out', '{out}', '--window'], "--window: unexpected argument"),
    (['train', '--variant', 'sparse', '--out', '{out}', '--pattern', 'bogus'], 'pattern'),
    (['train', '--variant', 'sparse', '--out', '{out}', '--windw', '3'], "--windw: unknown option; the options of family 'sparse' are --pattern, --window, --stride"),
    (['train', '--variant', 'lowrank', '--out', '{out}', '--rank-frac', 'nan'], 'rank_frac'),
    (['train', '--variant', 'linear', '--out', '{out}', '--feature-map', 'bogus'], 'feature_map'),
    (['train', '--variant', 'gated', '--out', '{out}', '--chunk', '0'], 'chunk'),
    (T + ['--workers', '2'], '--workers: not an option of icl-study train (it is one of icl-study sweep, report)'),
    (T + ['--profile', 'quick'], '--profile: not an option of icl-study train'),
    (T + ['stray'], 'stray: unexpected argument'), (T + ['--quiet', 'yes'], 'yes: unexpected argument'),
    # evaluate
    (['evaluate'], 'the following arguments are required: CHECKPOINT_DIR'),
    (['evaluate', 'no/such/dir'], 'holds no checkpoint'), (['evaluate', '{file}'], 'holds no checkpoint'),
    *[(['evaluate', '{ckpt}', '--shift', v], m) for v, m in
      (('bogus', "--shift: unknown 'bogus'"), ('x_scale=-1', 'task.x_scale: must be positive'), ('noise=nan', 'task.noise: must be finite'),
       ('x_scale=inf', 'must be finite'), ('w_scale=1e300', 'must be at most'), ('d=3', '--shift d: not a shift'),
       ('n_points=99', '--shift n_points: not a shift'), ('bogus=1', '--shift bogus: not a shift'), ('x_dist=laplace', 'task.x_dist: must be one of'),
       ('rho=0.9', 'rho is only used with x_dist=anisotropic'), ('x_dist=anisotropic,rho=2', 'task.rho: must be in (-1, 1)'))],
    *[(['evaluate', '{ckpt}', '--n-points', v], m) for v, m in
      (('0', 'positive integers'), ('-1', 'positive integers'), ('x', 'positive integers'), (HUGE, '--n-points: must fit in memory'))],
    (['evaluate', '{ckpt}', '--bogus'], 'unrecognized arguments'),
    # efficiency
    (['efficiency', '--variants', 'softmax,bogus'], "--variants: unknown 'bogus'; allowed: softmax, gqa"),
    (['efficiency', '--variants', ','], '--variants: unknown (none given)'),
    *[(['efficiency', '--n', v], m) for v, m in (('0', 'positive integers'), ('-1', 'positive integers'), ('x', 'positive integers'),
                                                (HUGE, '--n: must fit in memory'))],
    *[(['efficiency', '--d-model', v], m) for v, m in (('0', 'model.d_model: must be a positive int'), ('-1', 'must be a positive int'),
                                                      ('30', 'must be divisible by n_heads=4'), ('99999999996', '--d-model: must fit in memory'),
                                                      ('x', 'invalid int value'))],
    *[(['efficiency', '--heads', v], m) for v, m in (('0', 'model.n_heads: must be a positive int'), ('-1', 'must be a positive int'),
                                                    ('3', 'divisible by n_heads=3'), (HUGE, 'divisible by n_heads='), ('x', 'invalid int value'))],
    *[(['efficiency', '--repeats', v], m) for v, m in (('0', '--repeats: must be at least 1'), ('-1', 'must be at least 1'), ('x', 'invalid int value'))],
    (['efficiency', '--out', '{dir}', '--n', '32'], '--out: must be a file path, not an existing folder'),
    (['efficiency', '--out', '{file}/x.csv'], '--out: must be under a folder'),
    (['efficiency', '--gpt2', 'yes'], 'unrecognized arguments: yes'),
    # sweep and report
    (['sweep'], 'the following arguments are required: name'),
    (['sweep', 'epochs'], 'sweep: must be one of steps, layers, context, context_untrained'),
    (['sweep', 'steps', '--profile', 'bogus'], 'profile: must be one of paper, quick, faithful, smoke'),
    *[(X + ['--executor', 'bogus'], "invalid choice: 'bogus'") for X in (S, R)],
    *[(X + ['--workers', v], m) for X in (S, R) for v, m in
      (('0', '--workers: must be at least 1'), ('-1', 'must be at least 1'), (HUGE, '--workers: must be at most'), ('x', 'invalid int value'))],
    *[(X + ['--executor', 'ray', '--workers', '2'], '--workers: must stay 1 with --executor ray') for X in (S, R)],
    *[(X + ['--address', '127.0.0.1:6380'], '--address: must be left out with --executor local') for X in (S, R)],
    *[(S + ['--executor', 'ray', '--address', v], '--address: must be host:port') for v in ('nohost', 'h:99999', 'h:x', ':80')],
    *[(S + ['--executor', 'ray', '--gpus-per-cell', v], m) for v, m in
      (('-1', '--gpus-per-cell: must be ≥ 0'), ('nan', 'must be ≥ 0'), ('inf', 'must be ≥ 0'), ('1.5', 'a whole number above 1'), ('x', 'invalid float value'))],
    (S + ['--gpus-per-cell', '0.5'], '--gpus-per-cell: must be 0 with --executor local'),
    *[(S + ['--device', v], m) for v, m in (('gpu', 'train.device: must be cpu, cuda'), ('cuda:99', 'must be a device this machine has'))],
    (S + ['--out', '{file}'], '--out: must be a folder path, not an existing file'),
    (['report'], 'the following arguments are required: sweep'),
    (['report', 'bogus', '--profile', 'smoke'], 'sweep: must be one of'),
    (['report', 'all', '--profile', 'bogus'], 'profile: must be one of'),
    (R + ['--out', '{file}'], '--out: must be a folder path'), (R + ['--runs', '{file}'], '--runs: must be a folder path'),
    (R + ['--finished', '--runs', '{dir}'], '--finished: sweep steps has 0 of its'),    # nothing computed, nothing rendered
    (['report', 'all', '--profile', 'smoke', '--finished', '--runs', '{dir}'], "no sweep of profile 'smoke' is finished"),
    # readme and docs
    (['readme', 'x'], 'unrecognized arguments: x'),
    (['readme'], 'working folder: no icl-study checkout'),
    (['docs'], 'working folder: no icl-study checkout'),
    (['docs', '--no-execute', 'x'], 'unrecognized arguments: x'),
    (['docs', '--out', '{file}'], '--out: must be a folder path, not an existing file'),
]

@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    "A tiny trained checkpoint for the `evaluate` cases."
    d = tmp_path_factory.mktemp('ckpt')
    code, _, err = run('train', '--variant', 'softmax', *TINY, '--steps', 2, '--out', d, '--quiet')
    assert code == 0, err
    return d

def _files(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob('*')}

@pytest.mark.parametrize('argv, needle', BAD, ids=[' '.join(a)[:60] or '(none)' for a, _ in BAD])
def test_bad_input_is_one_line(argv, needle, tmp_path, ckpt, monkeypatch):
    "A bad argument exits non-zero with one line naming what is wrong, before any compute, and writes no file."
    (tmp_path / 'file').write_text('x'); (tmp_path / 'dir').mkdir()
    monkeypatch.chdir(tmp_path)                         # default output folders (runs/, reports/) land here; not a checkout
    argv = [a.format(out=tmp_path / 'out', file=tmp_path / 'file', dir=tmp_path / 'dir', ckpt=ckpt) for a in argv]
    before, ck = _files(tmp_path), _files(ckpt)
    code, out, err = run(*argv)
    assert code != 0 and needle in err, err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    assert _files(tmp_path) == before and _files(ckpt) == ck      # no partial result files

def test_every_flag_has_bad_cases():
    "The table above covers every option of every sub-command (flags that take no value are covered by a stray value)."
    subs = next(a for a in parser()._actions if hasattr(a, 'choices') and isinstance(a.choices, dict)).choices
    tried = {(a[0], o) for a, _ in BAD if a for o in a[1:] if o.startswith('--')}
    missing = [(c, o) for c, sp in subs.items() for o in sp._option_string_actions if o.startswith('--') and o != '--help'
               and (c, o) not in tried]
    assert not missing, missing

@pytest.mark.parametrize('argv', [
    ['efficiency', '--variants', 'softmax,bogus'],
    ['baselines', '--d', '5', '--n-points', '10', '--tasks', HUGE],
    ['train', '--variant', 'softmax', '--device', 'gpu', '--out', 'x'],
    ['sweep', 'steps', '--profile', 'smoke', '--workers', '0'],
    ['baselines', '--d', 'x'],
])
def test_bad_input_subprocess(argv, tmp_path):
    "The real console script: exit status non-zero, exactly one line on stderr, no traceback, nothing written."
    r = subprocess.run([BIN, *argv], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and 'Traceback' not in r.stderr, r.stderr
    assert r.stdout == '' and not any(tmp_path.iterdir())

def test_large_but_valid_values_are_accepted():
    "Values that only cost time (steps, repeats), or that the run handles itself (a learning rate that diverges), pass."
    from icl_study.args import train_config
    for extra in (['--steps', HUGE], ['--lr', '1e10'], ['--max-len', HUGE], ['--seed', str(2**63 - 1)]):
        a, x = parser().parse_known_args(['train', '--variant', 'softmax', '--out', 'o', *extra])
        train_config(a, x)

@pytest.mark.parametrize('variant', attention_names())
def test_train_every_family(variant, tmp_path):
    "Every family trains from the CLI and writes metrics.json (with the baselines on the same tasks) and a checkpoint."
    code, out, err = run('train', '--variant', variant, *TINY, '--steps', 5, '--seed', 0, '--device', 'cpu', '--out', tmp_path, '--quiet')
    assert code == 0, err
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['config']['model']['attention'] == variant and m['status'] == 'ok'
    for k in ('nmse', 'least_squares_nmse', 'gd_1step_nmse', 'steps_per_s'): assert m[k] == m[k]  # not NaN
    assert (tmp_path / 'model.pt').exists() and (tmp_path / 'config.json').exists()

def test_repeated_set_accumulates(tmp_path):
    "Every `--set` counts (they used to overwrite each other): the saved config.json has all of them."
    code, _, err = run('train', '--variant', 'softmax', '--d', 2, '--n-points', 6, '--layers', 1, '--heads', 2, '--steps', 2,
                       '--batch-size', 8, '--eval-tasks', 32, '--out', tmp_path, '--quiet',
                       '--set', 'model.d_model=12', '--set', 'task.x_dist=uniform', '--set', 'train.lr=3e-3', 'model.mlp_ratio=0')
    assert code == 0, err
    c = json.loads((tmp_path / 'config.json').read_text())
    assert (c['model']['d_model'], c['task']['x_dist'], c['train']['lr'], c['model']['mlp_ratio']) == (12, 'uniform', 3e-3, 0.0)

def test_train_options_and_evaluate(tmp_path):
    "Family options reach the config; `evaluate` writes a tidy CSV of shifts and lengths next to the checkpoint."
    code, _, err = run('train', '--variant', 'gqa', '--kv-heads', 2, '--d', 2, '--n-points', 6, '--layers', 1,
                       '--d-model', 8, '--heads', 4, '--steps', 3, '--batch-size', 8, '--eval-tasks', 32, '--out', tmp_path, '--quiet')
    assert code == 0, err
    assert json.loads((tmp_path / 'config.json').read_text())['model']['attn_options'] == {'kv_heads': 2}
    code, out, err = run('evaluate', tmp_path, '--shift', 'noise', 'x_scale=3', '--n-points', '6,12')
    assert code == 0, err
    df = pd.read_csv(tmp_path / 'evaluation.csv')
    assert set(df.condition) == {'in_distribution', 'noise', 'x_scale=3', 'length'}
    assert set(df.query("condition == 'length'").n_points) == {6, 12}
    assert {'predictor', 'metric', 'value', 'ci_low', 'ci_high'} <= set(df.columns)
    assert len(df.query("metric == 'degradation'")) == 2

def test_efficiency_writes_table(tmp_path):
    "`icl-study efficiency` writes the cost table with the issue's columns, one row per variant x n."
    code, out, err = run('efficiency', '--variants', 'softmax,linear', '--n', '32,64', '--repeats', 1, '--out', tmp_path / 'e.csv')
    assert code == 0, err
    df = pd.read_csv(tmp_path / 'e.csv')
    assert {'variant', 'n', 'params', 'flops', 'forward_ms', 'peak_mem_mb', 'state_bytes_per_token'} <= set(df.columns)
    assert sorted(zip(df.variant, df.n)) == [('linear', 32), ('linear', 64), ('softmax', 32), ('softmax', 64)]

def test_quiet_log_when_piped(tmp_path):
    "A 3000-step smoke-size run whose output goes to a file writes a few progress lines, not hundreds of KB of bar frames."
    log = tmp_path / 'log.txt'
    with open(log, 'w') as f:
        subprocess.run([BIN, 'train', '--variant', 'softmax', *map(str, TINY), '--steps', '3000', '--out', str(tmp_path / 'run')],
                       stdout=f, stderr=subprocess.STDOUT, check=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    text = log.read_text()
    *progress, last = text.splitlines()
    assert '\r' not in text and log.stat().st_size < 8000, text[:500]   # ten lines, plus one per 30 s on a slow machine
    assert 10 <= len(progress) <= 80 and all(l.startswith('softmax L=1: ') for l in progress), text[:500]
    assert progress[-1].startswith('softmax L=1: 3000/3000 steps (100%)') and json.loads(last)['status'] == 'ok'

def test_sweep_all_runs_every_sweep_in_one_pool(tmp_path, monkeypatch):
    "`icl-study sweep all` computes every sweep's cells (shared ones once) and writes each sweep's results table."
    from icl_study import runs, sweeps
    calls = []
    def toy(cfg):
        calls.append(cfg); return sweeps.toy_runner(cfg)
    monkeypatch.setattr(runs, 'default_runner', lambda: toy)
    code, out, err = run('sweep', 'all', '--profile', 'smoke', '--out', tmp_path)
    assert code == 0, err
    for s in sweeps.SWEEPS: assert (tmp_path / s / 'results.csv').exists(), s
    keys = {c.key for s in sweeps.SWEEPS for c in sweeps.sweep_cells(s, 'smoke')}
    assert len(calls) == len(keys) < sum(len(sweeps.sweep_cells(s, 'smoke')) for s in sweeps.SWEEPS)  # shared cells once
