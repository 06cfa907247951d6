"Seeds trained together (05b_stacked) end as the same seeds trained one by one, for every stackable family."
from dataclasses import replace
import pytest
import torch
from icl_study.config import RunConfig, TaskConfig, ModelConfig, TrainConfig, EvalConfig, override
from icl_study.sweeps import families
from icl_study.stacked import train_stacked, can_stack
from icl_study.train import train

def cfgs(family, seeds=3, **over):
    rc = RunConfig(task=TaskConfig(d=2, n_points=9), model=ModelConfig(attention=family, d_model=16, n_heads=2, num_layers=2, max_len=16),
                   train=TrainConfig(steps=12, batch_size=8, warmup=3, lr=3e-3, eval_at=(0, 6)), eval=EvalConfig(n_tasks=64))
    return [override(replace(rc, seed=s), over) for s in range(seeds)]

def assert_same(t, a, tol=1e-4):
    assert t.status == a.status and [s for s, _ in t.history] == [s for s, _ in a.history]
    for (_, x), (_, y) in zip(t.history, a.history): assert abs(x - y) <= tol * max(abs(x), 1e-6)
    assert t.evals.keys() == a.evals.keys()
    for k in t.evals: assert abs(t.evals[k] - a.evals[k]) <= tol * max(abs(a.evals[k]), 1e-6)
    for p, q in zip(t.model.parameters(), a.model.parameters()): assert torch.allclose(p, q, atol=tol)

@pytest.mark.parametrize('family', families())
def test_stacked_equals_one_by_one(family):
    cs = cfgs(family)
    seen = []
    together = train_stacked(cs, [lambda s, m, i=i: seen.append((i, s)) for i in range(3)], progress=False, log_every=1)
    for t, a in zip(together, [train(c, progress=False, log_every=1) for c in cs]): assert_same(t, a)
    assert sorted(seen) == [(i, s) for i in range(3) for s in (0, 6, 12)]
    if family in ('softmax', 'gqa', 'sparse', 'linear', 'gated'): assert can_stack(cs)
    if family == 'lowrank': assert not can_stack(cs)                  # its sequence projections are loose parameters

def test_stacked_with_other_layer_norm_and_mlp_settings():
    "No LayerNorm, no MLP, non-causal, match_params: still equal."
    cs = cfgs('linear', 2, **{'model.layer_norm': False, 'model.mlp_ratio': 0., 'model.causal': False, 'model.match_params': 3000})
    assert can_stack(cs)
    for t, a in zip(train_stacked(cs, progress=False, log_every=1), [train(c, progress=False, log_every=1) for c in cs]): assert_same(t, a)

def test_stacked_checkpoint_resumes(tmp_path):
    "A stacked group killed (here: an exception) and resumed ends as the uninterrupted group."
    cs = cfgs('softmax')
    whole = train_stacked(cs, progress=False, log_every=1)
    def boom(step, model):
        if step == 6: raise RuntimeError('stop')
    with pytest.raises(RuntimeError): train_stacked(cs, boom, progress=False, log_every=1, checkpoint_dir=tmp_path, checkpoint_every=4)
    again = train_stacked(cs, progress=False, log_every=1, checkpoint_dir=tmp_path, checkpoint_every=4)
    for a, w in zip(again, whole):
        assert a.resumed_from == 4 and a.history == w.history and a.evals == w.evals
        assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), w.model.parameters()))

def test_cannot_stack_different_configs():
    cs = cfgs('softmax', 2)
    assert not can_stack([cs[0], override(cs[1], {'train.lr': 1e-2})])
    assert not can_stack([cs[0]]) and not can_stack([cs[0], cs[0]])
    with pytest.raises(ValueError, match='one per config'): train_stacked(cs, [None])
