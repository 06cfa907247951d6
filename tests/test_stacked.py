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
    assert can_stack(cs)                                              # every family of the study stacks

@pytest.mark.parametrize('family,opts', [('lowrank', {'block': True, 'block_size': 4}), ('lowrank', {'causal': False}),
                                         ('mamba2', {'gate': False}), ('hybrid', {'pattern': 'mamba2,softmax'}),
                                         ('hybrid', {'pattern': 'lowrank,gated_deltanet'})])
def test_stacked_equals_one_by_one_other_options(family, opts):
    "The families with parameters of their own (decay gates, Mamba-2's skip, lowrank's projections), in their other forms."
    over = {'model.attn_options': {k: v for k, v in opts.items() if k != 'causal'}, 'model.causal': opts.get('causal', True)}
    cs = cfgs(family, **over)
    assert can_stack(cs)
    for t, a in zip(train_stacked(cs, progress=False, log_every=1), [train(c, progress=False, log_every=1) for c in cs]): assert_same(t, a)

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

# The plain modules' code before they gained the methods that stacking overrides (`DecayGate.rates`, `Mamba2.skip`,
# `LowRankAttention.projections`): the same ops, so a plain model must give the same bits with either.
import math
import torch.nn.functional as F
from icl_study.attention.core import masked_softmax
from icl_study.attention.gated_deltanet import DecayGate
from icl_study.attention.mamba2 import Mamba2
from icl_study.attention.lowrank import LowRankAttention, n_slots, slot_ends
from icl_study.model import build_model

def _gate_before(self, x):
    dt = F.softplus(self.proj(x) + self.dt_bias).transpose(1, 2)
    return dt, -self.A_log.exp()[:, None] * dt

def _finish_before(self, y, xv, z):
    y = y + self.D[:, None, None] * xv
    return y * F.silu(z) if z is not None else y

def _compress_before(self, t):
    r = n_slots(t, self.rank_frac, self.rank)
    E, F_ = self.proj_k[:r, :t], self.proj_v[:r, :t]
    if not self.causal: return E, F_, torch.ones(t, r, dtype=torch.bool, device=E.device)
    ends = slot_ends(r, t, E.device)
    mixes = torch.arange(t, device=E.device) <= ends[:, None]
    return E * mixes, F_ * mixes, ends <= torch.arange(t, device=E.device)[:, None]

def _mix_blocks_before(self, q, k, v):
    B, H, T, Dh = q.shape
    qb, kb, vb = self._blocks(q), self._blocks(k), self._blocks(v)
    nb, b = qb.shape[2:4]
    kc = (self.proj_k @ kb).flatten(2, 3)[:, :, None]
    vc = (self.proj_v @ vb).flatten(2, 3)[:, :, None]
    ok = torch.cat(self._block_masks(T, q.device), -1)
    scores = torch.cat([qb @ kb.transpose(-1, -2), qb @ kc.transpose(-1, -2)], -1) / math.sqrt(Dh)
    p, _ = masked_softmax(scores, ok)
    out = p[..., :b] @ vb + p[..., b:] @ vc
    return out.flatten(2, 3)[:, :, :T]

BEFORE = [(DecayGate, 'forward', _gate_before), (Mamba2, '_finish', _finish_before),
          (LowRankAttention, '_compress', _compress_before), (LowRankAttention, '_mix_blocks', _mix_blocks_before)]

@pytest.mark.parametrize('family,opts', [('lowrank', {}), ('lowrank', {'block': True, 'block_size': 4}), ('gated_deltanet', {}),
                                         ('mamba2', {}), ('mamba2', {'gate': False}), ('hybrid', {}), ('hybrid', {'pattern': 'mamba2,softmax'})])
def test_plain_numbers_as_before_stacking(family, opts, monkeypatch):
    "A plain model's forward and a short training (clipping at work) give the same bits as the code before the stacking hooks."
    c = cfgs(family, 1, **{'model.attn_options': opts, 'train.grad_clip': 0.05})[0]
    def run():
        m = build_model(c)
        with torch.no_grad(): y = m(torch.randn(8, 10, 3, generator=torch.Generator().manual_seed(0)))
        return [n for n, _ in m.named_parameters()], y, train(c, progress=False, log_every=1)
    names, y, r = run()
    for cls, name, f in BEFORE: monkeypatch.setattr(cls, name, f)
    names0, y0, r0 = run()
    assert names == names0 and torch.equal(y, y0) and r.history == r0.history and r.evals == r0.evals
    assert r.model.state_dict().keys() == r0.model.state_dict().keys()
    assert all(torch.equal(v, r0.model.state_dict()[k]) for k, v in r.model.state_dict().items())
