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
