"The families beyond the study documents (deltanet, gated_deltanet, mamba2, hybrid) outside the attention tests: the CLI, the efficiency table and the sweeps treat them like the six."
import json
import pandas as pd, pytest, torch
from icl_study.attention.core import attention_names
from icl_study.efficiency import build_attention, count_ops, state_bytes
from icl_study.sweeps import FAMILIES, BEYOND, families, sweep_cells
from test_cli import run

NEW = ('deltanet', 'gated_deltanet', 'mamba2')


@pytest.mark.parametrize('variant, opts, attn_options', [
    ('deltanet', ['--chunk', 4, '--qk-norm', 'false'], {'chunk': 4, 'qk_norm': False}),
    ('mamba2', ['--gate', 'false'], {'gate': False}),
    ('hybrid', ['--pattern', 'deltanet,softmax'], {'pattern': 'deltanet,softmax'}),
])
def test_train_with_options_and_evaluate(variant, opts, attn_options, tmp_path):
    "Family options reach the config from the command line; a hybrid of 3 layers trains and evaluates."
    code, _, err = run('train', '--variant', variant, *opts, '--d', 2, '--n-points', 6, '--layers', 3, '--d-model', 8,
                       '--heads', 2, '--steps', 3, '--batch-size', 8, '--eval-tasks', 32, '--out', tmp_path, '--quiet')
    assert code == 0, err
    cfg = json.loads((tmp_path / 'config.json').read_text())['model']
    assert cfg['attention'] == variant and all(cfg['attn_options'][k] == v for k, v in attn_options.items())
    code, _, err = run('evaluate', tmp_path, '--shift', 'noise', '--n-points', '6,12')
    assert code == 0, err
    assert set(pd.read_csv(tmp_path / 'evaluation.csv').condition) == {'in_distribution', 'noise', 'length'}

@pytest.mark.parametrize('argv, needle', [
    (['--variant', 'deltanet', '--chunk', '0'], 'model.attn_options.chunk: must be a positive int, got 0'),
    (['--variant', 'gated_deltanet', '--qk-norm', 'maybe'], "model.attn_options.qk_norm: must be of type bool, got 'maybe'"),
    (['--variant', 'mamba2', '--window', '3'], "--window: unknown option; the options of family 'mamba2' are --chunk, --gate"),
    (['--variant', 'hybrid', '--pattern', 'softmax,foo'], 'model.attn_options.pattern: must be comma-separated families among'),
    (['--variant', 'hybrid', '--pattern', 'mamba2,softmax', '--set', 'model.causal=false'], "model.causal: must be True for 'mamba2'"),
])
def test_bad_option_is_one_line(argv, needle, tmp_path):
    "A bad option of a new family exits non-zero with one line naming the field, before any compute."
    code, out, err = run('train', *argv, '--out', tmp_path / 'x')
    assert code != 0 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'x').exists()

@pytest.mark.parametrize('variant', NEW)
def test_linear_time(variant):
    "Past one chunk, doubling n doubles the matmul FLOPs: no T x T product anywhere."
    f = [count_ops(build_attention(variant, n), torch.randn(1, n, 64)).flops for n in (128, 256, 512)]
    assert f[1] == 2 * f[0] and f[2] == 2 * f[1]

def test_state_bytes():
    "A recurrent family keeps one Dh x Dh state per head whatever n; a hybrid period keeps its layers' states."
    for v in NEW:
        assert [state_bytes(build_attention(v, 8), n) for n in (1, 10**6)] == [4 * 16 * 16 * 4] * 2
    h = build_attention(('h', 'hybrid', {'pattern': 'mamba2,softmax,softmax'}), 8)
    assert state_bytes(h, 100) == 4 * 16 * 16 * 4 + 2 * 100 * 512

def test_efficiency_cli_runs_the_new_variants(tmp_path):
    code, out, err = run('efficiency', '--variants', 'softmax,deltanet,gated_deltanet,mamba2,hybrid', '--n', '32,64',
                         '--repeats', 1, '--out', tmp_path / 'e.csv')
    assert code == 0, err
    df = pd.read_csv(tmp_path / 'e.csv')
    assert set(df.variant) == {'softmax', *NEW, 'hybrid'} and (df.forward_ms > 0).all()

def test_sweeps_run_them_after_the_six():
    assert families() == [*FAMILIES, *BEYOND] and set(BEYOND) <= set(attention_names())
    cells = sweep_cells('layers', 'smoke')
    assert [c.family for c in cells][-len(BEYOND) * 2:] == [f for f in BEYOND for _ in range(2)]
    h = next(c for c in cells if c.family == 'hybrid')
    assert h.cfg.model.attn_options == {'pattern': 'gated_deltanet,softmax', 'layer_options': {}}
