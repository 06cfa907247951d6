"Training runs end to end: reproducibility, divergence, checkpoints, and a model that really learns in context."
import math
import pytest
import torch
from icl_study.config import RunConfig, TaskConfig, ModelConfig, TrainConfig, EvalConfig, override
from icl_study.tasks import eval_tasks
from icl_study.model import predict
from icl_study.train import train, save_checkpoint, load_checkpoint, METRICS




def small(**over) -> RunConfig:
    "A tiny run on 2-dimensional tasks."
    cfg = RunConfig(task=TaskConfig(d=2, n_points=10),
                    model=ModelConfig(d_model=32, n_heads=4, num_layers=2, max_len=32),
                    train=TrainConfig(steps=20, batch_size=32, warmup=5, lr=3e-3),
                    eval=EvalConfig(n_tasks=128))
    return override(cfg, over)


def test_same_seed_same_run():
    cfg = small(**{'train.eval_at': (0, 10)})
    a, b = train(cfg, progress=False, log_every=1), train(cfg, progress=False, log_every=1)
    assert a.status == b.status == 'ok'
    assert len(a.history) == cfg.train.steps
    assert a.history == b.history              # bit-identical losses
    assert a.evals == b.evals and sorted(a.evals) == [0, 10, 20]
    for p, q in zip(a.model.parameters(), b.model.parameters()): assert torch.equal(p, q)
    c = train(override(cfg, {'seed': 1}), progress=False, log_every=1)
    assert c.history != a.history


def test_divergence_is_reported_not_raised():
    res = train(small(**{'train.lr': 1e3, 'train.grad_clip': 0, 'train.warmup': 0}), progress=False)
    assert res.status == 'diverged'
    assert res.diverged_at is not None and 0 <= res.diverged_at < 20
    last = res.history[-1][1]
    assert not math.isfinite(last) or last > 1e3
    assert max(res.evals, default=-1) <= res.diverged_at  # no evaluation after the divergence
    assert math.isnan(res.final_nmse)


def test_checkpoint_round_trip(tmp_path):
    res = train(small(), progress=False)
    save_checkpoint(tmp_path / 'ckpt', res.model, res.cfg, res.metrics())
    model, cfg, metrics = load_checkpoint(tmp_path / 'ckpt')
    assert cfg == res.cfg
    assert metrics['status'] == 'ok' and metrics['evals'] == {str(k): v for k, v in res.evals.items()}
    ev = eval_tasks(cfg.task, cfg.eval)
    assert torch.equal(predict(model, ev), predict(res.model, ev))
    assert sorted(p.name for p in (tmp_path / 'ckpt').iterdir()) == ['config.json', 'metrics.json', 'model.pt']
    save_checkpoint(tmp_path / 'ckpt', res.model, res.cfg, {'again': 1})      # overwriting replaces each file
    assert load_checkpoint(tmp_path / 'ckpt')[2] == {'again': 1}


def test_match_params_run_saves_resolved_width(tmp_path):
    res = train(small(**{'model.match_params': 20_000, 'train.steps': 2}), progress=False)
    assert res.cfg.model.d_model != 32 and res.cfg.model.d_model % 4 == 0
    save_checkpoint(tmp_path, res.model, res.cfg)
    assert load_checkpoint(tmp_path)[0].cfg.d_model == res.cfg.model.d_model


def test_softmax_model_learns_in_context():
    "A small softmax transformer trained for 300 steps on d=2 beats the zero predictor clearly."
    res = train(small(**{'train.steps': 300, 'train.batch_size': 64, 'train.warmup': 20, 'eval.n_tasks': 256,
                         'train.eval_at': (0,)}), progress=False)
    assert res.status == 'ok'
    assert res.evals[0] > 0.5                 # untrained: about as bad as predicting zero
    assert res.final_nmse < 0.5, res.evals     # trained: reads the context


# --- compiled steps ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('family', ['softmax', 'gated'])
def test_compiled_training_matches_eager(family):
    "train.compile='on' gives eager's losses, evaluations and weights up to float rounding (a few steps, CPU)."
    cfg = small(**{'model.attention': family, 'model.num_layers': 2, 'train.steps': 4, 'train.eval_at': (2,)})
    a = train(override(cfg, {'train.compile': 'off'}), progress=False, log_every=1)
    b = train(override(cfg, {'train.compile': 'on'}), progress=False, log_every=1)
    assert [s for s, _ in a.history] == [s for s, _ in b.history]
    for (_, x), (_, y) in zip(a.history, b.history): assert abs(x - y) <= 1e-4 * abs(x)
    for k in a.evals: assert abs(a.evals[k] - b.evals[k]) <= 1e-4 * abs(a.evals[k])
    for p, q in zip(a.model.parameters(), b.model.parameters()): assert torch.allclose(p, q, atol=1e-5)
    assert type(b.model).__name__ == 'ICLTransformer' and b.model.blocks[0].__class__.__name__ == 'Block'  # the plain model


# --- the last block: the query token only -------------------------------------------------------------------------

@pytest.mark.parametrize('causal', [True, False])
def test_last_token_output_of_every_family(causal):
    "Attention.last(x) is forward(x)[:, -1:] for every family, so the model's last block may use it."
    from icl_study.attention.core import attention_names, make_attention
    from icl_study.config import ConfigError
    x = torch.randn(3, 20, 16, dtype=torch.float64)
    for name in attention_names():
        try: a = make_attention(name, 16, 2, causal, 32).double()
        except ConfigError: continue                           # a causal-only family
        with torch.no_grad(): assert torch.allclose(a.last(x), a(x)[:, -1:], atol=1e-10), name


# --- checkpoints of a run in progress -------------------------------------------------------------------------------

_CHILD = r"""
import sys, time, torch
torch.set_num_threads(1)                                                 # as the tests: bit-identity needs the same threads
from icl_study.config import from_json
from icl_study.train import train
cfg = from_json(open(sys.argv[1]).read())
def cb(step, model):
    if step == 12: print('ready', flush=True); time.sleep(600)      # the parent kills us here
train(cfg, cb, progress=False, log_every=1, checkpoint_dir=sys.argv[2], checkpoint_every=5)
"""

def test_killed_run_resumes_to_the_same_numbers(tmp_path):
    "A run killed with SIGKILL mid-run and resumed from its last checkpoint ends bit-identical to an uninterrupted run."
    import signal, subprocess, sys, json
    from icl_study.config import to_json
    cfg = small(**{'train.steps': 20, 'train.eval_at': (4, 12)})
    calls = []
    whole = train(cfg, lambda s, m: calls.append((s, [p.detach().clone() for p in m.parameters()])), progress=False, log_every=1)
    (tmp_path / 'cfg.json').write_text(to_json(cfg))
    p = subprocess.Popen([sys.executable, '-c', _CHILD, str(tmp_path / 'cfg.json'), str(tmp_path / 'ck')], stdout=subprocess.PIPE, text=True)
    try: assert p.stdout.readline().strip() == 'ready'
    finally: p.send_signal(signal.SIGKILL); p.wait()
    meta = json.loads((tmp_path / 'ck' / METRICS).read_text())
    assert meta['step'] == 10 and not meta['finished'] and len(meta['history']) == 10    # the loss history so far
    again_calls = []
    again = train(cfg, lambda s, m: again_calls.append((s, [p.detach().clone() for p in m.parameters()])), progress=False,
                  log_every=1, checkpoint_dir=tmp_path / 'ck', checkpoint_every=5)
    assert again.resumed_from == 10
    assert again.history == whole.history and again.evals == whole.evals and again.status == 'ok'
    assert [s for s, _ in again_calls] == [s for s, _ in calls] == [4, 12, 20]            # step 4 replayed from its weights
    for (_, a), (_, b) in zip(again_calls, calls): assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(x, y) for x, y in zip(again.model.parameters(), whole.model.parameters()))
    assert json.loads((tmp_path / 'ck' / METRICS).read_text())['finished']
    model, _, _ = load_checkpoint(tmp_path / 'ck')                                          # the folder is a checkpoint
    assert all(torch.equal(x, y) for x, y in zip(model.parameters(), whole.model.parameters()))
