"The `icl-study` console script: the baselines closed forms, training every family, evaluation, and bad input."
import io, json, subprocess, sys, contextlib
from pathlib import Path
import pandas as pd, pytest
from icl_study.cli import main
from icl_study.attention.core import attention_names

BIN = Path(sys.executable).parent / 'icl-study'

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

@pytest.mark.parametrize('argv, needle', [
    (['baselines', '--n-points', '10,x'], 'expected comma-separated integers'),
    (['baselines', '--n-points', '0'], '--n-points: must be positive'),
    (['baselines', '--x-dist', 'laplace'], 'task.x_dist: must be one of isotropic, anisotropic, uniform'),
    (['train', '--variant', 'foo', '--out', 'x'], 'allowed: deltanet, gated, gated_deltanet, gqa, hybrid, linear, lowrank, mamba2, softmax, sparse'),
    (['train', '--variant', 'gqa', '--kv-heads', '3', '--out', 'x'], 'kv_heads: must divide n_heads=4'),
    (['train', '--variant', 'sparse', '--windw', '3', '--out', 'x'], "unknown option for 'sparse'"),
    (['train', '--variant', 'softmax', '--steps', '-1', '--out', 'x'], 'train.steps: must be ≥ 0'),
    (['train', '--variant', 'softmax', '--set', 'model.layers=3', '--out', 'x'], 'model.layers: unknown config key'),
    (['sweep', 'epochs', '--profile', 'smoke'], 'sweep: must be one of'),
    (['evaluate', 'no/such/dir'], 'holds no checkpoint'),
])
def test_bad_input_is_one_line(argv, needle, tmp_path):
    "A bad argument exits non-zero with one line naming what is wrong and what is allowed, before any compute."
    code, out, err = run(*argv)
    assert code != 0 and needle in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())

@pytest.mark.parametrize('variant', attention_names())
def test_train_every_family(variant, tmp_path):
    "Every family trains from the CLI and writes metrics.json (with the baselines on the same tasks) and a checkpoint."
    code, out, err = run('train', '--variant', variant, '--d', 2, '--n-points', 6, '--layers', 1, '--d-model', 8,
                         '--heads', 2, '--steps', 5, '--batch-size', 8, '--eval-tasks', 32, '--seed', 0,
                         '--out', tmp_path, '--quiet')
    assert code == 0, err
    m = json.loads((tmp_path / 'metrics.json').read_text())
    assert m['config']['model']['attention'] == variant and m['status'] == 'ok'
    for k in ('nmse', 'least_squares_nmse', 'gd_1step_nmse', 'steps_per_s'): assert m[k] == m[k]  # not NaN
    assert (tmp_path / 'model.pt').exists() and (tmp_path / 'config.json').exists()

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
