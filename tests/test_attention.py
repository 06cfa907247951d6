"The attention registry: one generic loop over every family (shapes, causality, determinism, gradients, efficient == naive), then each family's equivalences."
import math
import pytest
import torch
from icl_study.attention.core import ATTENTIONS, attention_names, attention_defaults, check_attention, make_attention
from icl_study.attention.deltanet import chunk_scan, delta_step
from icl_study.attention.hybrid import pattern_families
from icl_study.config import ConfigError, ModelConfig, TaskConfig
from icl_study.tasks import sample_tasks, generator, Tasks

D, H, B, MAX_LEN = 8, 2, 2, 16
SIZES = (1, 6, 13)  # prompt lengths: one token, shorter than a window/chunk, not a multiple of one

# Option sets that exercise each family's code paths at these small sizes; a family not listed runs with its defaults.
VARIANTS = {
    'gqa': [{}, {'kv_heads': 2}],
    'sparse': [{}, {'pattern': 'sliding', 'window': 3}, {'pattern': 'strided', 'window': 2, 'stride': 3},
               {'pattern': 'block', 'window': 4}],
    'linear': [{}, {'chunk': 3}, {'feature_map': 'elu1', 'normalize': True, 'chunk': 4}, {'feature_map': 'relu2', 'normalize': True},
               {'feature_map': 'relu2'}],
    'lowrank': [{}, {'rank': 3}, {'block': True, 'block_size': 4}, {'block': True, 'block_size': 4, 'rank_frac': 0.25}],
    'gated': [{}, {'chunk': 3}],
    'deltanet': [{}, {'chunk': 1}, {'chunk': 3}, {'chunk': 4, 'qk_norm': False}],
    'gated_deltanet': [{}, {'chunk': 3}, {'chunk': 5}],
    'mamba2': [{}, {'chunk': 3}, {'chunk': 4, 'gate': False}],
    'hybrid': [{}, {'pattern': 'deltanet,softmax,mamba2', 'layer_options': {'deltanet': {'chunk': 3}}}, {'pattern': 'linear,softmax'}],
}
RECURRENT = ('deltanet', 'gated_deltanet', 'mamba2')  # chunked forms whose reference is the token-by-token recurrence


def causal_only(name, opts):
    "Does the family run causally only? (A hybrid does when any family of its pattern does.)"
    if not ATTENTIONS[name].composite: return ATTENTIONS[name].causal_only
    return any(ATTENTIONS[f].causal_only for f in pattern_families({**attention_defaults(name), **opts}['pattern']))


def cases():
    for name in attention_names():
        for opts in VARIANTS.get(name, [{}]):
            for causal in (True, False):
                if causal or not causal_only(name, opts):
                    yield pytest.param(name, causal, opts, id=f"{name}-{'causal' if causal else 'full'}-{opts}")

def build(name, causal, opts, seed=0):
    torch.manual_seed(seed)
    return make_attention(name, D, H, causal=causal, max_len=MAX_LEN, **opts).double()

def tokens(T, seed=1):
    return torch.randn(B, T, D, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

def test_registry():
    assert {'softmax', 'gqa', 'sparse', 'linear', 'lowrank', 'gated'} <= set(attention_names())
    assert {'deltanet', 'gated_deltanet', 'mamba2', 'hybrid'} <= set(attention_names())
    for name in attention_names():
        a = make_attention(name, D, H, max_len=MAX_LEN)
        for layer in (a.layers if a.composite else [a]):  # a composite's layers are ordinary families
            assert {'q.weight', 'k.weight', 'v.weight', 'o.weight'} <= dict(layer.named_parameters()).keys()
        assert a.options == attention_defaults(name)

@pytest.mark.parametrize('name,causal,opts', list(cases()))
def test_generic(name, causal, opts):
    a = build(name, causal, opts)
    for T in SIZES:  # shape, and the efficient form equals the quadratic reference
        x = tokens(T)
        y = a(x)
        assert y.shape == (B, T, D) and y.isfinite().all()
        torch.testing.assert_close(y, a.naive(x), rtol=1e-9, atol=1e-10)
        if hasattr(a, 'weights'):  # probabilities over the keys: each row sums to 1 (or 0 if it sees nothing)
            w = a.weights(x)
            assert w.shape[:3] == (B, H, T) and (w >= 0).all()
            assert ((w.sum(-1) - 1).abs() < 1e-9).logical_or(w.sum(-1) == 0).all()
    x = tokens(9)
    torch.testing.assert_close(build(name, causal, opts)(x), a(x), rtol=0, atol=0)  # determinism: same seed, same output
    if causal:  # perturbing token j leaves every output before j unchanged
        j = 4; x2 = x.clone(); x2[:, j] += 1.
        y, y2 = a(x), a(x2)
        torch.testing.assert_close(y[:, :j], y2[:, :j], rtol=0, atol=1e-12)
        assert (y[:, j:] - y2[:, j:]).abs().max() > 1e-6
    a.zero_grad(); x = tokens(13)  # gradients reach every parameter
    (a(x) ** 2).sum().backward()
    for n, p in a.named_parameters():
        assert p.grad is not None and p.grad.isfinite().all() and p.grad.abs().sum() > 0, n

@pytest.mark.parametrize('name', ['softmax', 'gqa', 'sparse', 'linear', 'lowrank'])
def test_noncausal_cannot_leak_the_target(name):
    "The query token is (x*, 0): the target y* is not in the input, so even full attention cannot read it."
    cfg = TaskConfig(d=3, n_points=6)
    b = sample_tasks(cfg, B, generator(0), dtype=torch.float64)
    a, embed = build(name, False, {}), torch.nn.Linear(4, D, bias=False).double()
    yq = b.yq.clone().requires_grad_(True)
    out = a(embed(Tasks(b.xs, b.ys, b.xq, yq, b.w).tokens))[:, -1]                  # (B, D) at the query position
    out.sum().backward()
    assert yq.grad is None or (yq.grad == 0).all()                                    # no path from y* to the output
    other = Tasks(b.xs, b.ys, b.xq, b.yq + 100., b.w)                                 # any other target: same output
    torch.testing.assert_close(a(embed(other.tokens))[:, -1], out.detach(), rtol=0, atol=0)
    moved = Tasks(b.xs, b.ys, b.xq + 1., b.yq, b.w)                                # the context does read the query token:
    assert (a(embed(moved.tokens))[:, 0] - a(embed(b.tokens))[:, 0]).abs().max() > 1e-6  # the mode is really non-causal

def copy_into(dst, src):
    "Load src's q, k, v, o weights into dst."
    dst.load_state_dict({k: w for k, w in src.state_dict().items() if k in dst.state_dict()}, strict=False)
    return dst

@pytest.mark.parametrize('causal', [True, False])
@pytest.mark.parametrize('T', [1, 7, 16])
def test_gqa_full_groups_is_softmax(causal, T):
    g = build('gqa', causal, {'kv_heads': H})
    s = copy_into(build('softmax', causal, {}, seed=5), g)
    torch.testing.assert_close(g(tokens(T)), s(tokens(T)))

@pytest.mark.parametrize('pattern', ['sliding', 'strided', 'block'])
@pytest.mark.parametrize('causal', [True, False])
@pytest.mark.parametrize('T', [1, 7, 16])
def test_sparse_long_window_is_softmax(pattern, causal, T):
    a = build('sparse', causal, {'pattern': pattern, 'window': T, 'stride': 2})
    s = copy_into(build('softmax', causal, {}, seed=5), a)
    torch.testing.assert_close(a(tokens(T)), s(tokens(T)))

def test_sparse_query_sees_only_its_window():
    a = build('sparse', True, {'pattern': 'sliding', 'window': 3})
    x = tokens(10); x2 = x.clone(); x2[:, :7] += 1.                                  # change every token but the last 3
    torch.testing.assert_close(a(x)[:, -1], a(x2)[:, -1])

@pytest.mark.parametrize('opts', [{'pattern': 'sliding', 'window': 3}, {'pattern': 'sliding', 'window': 5},
                                  {'pattern': 'block', 'window': 4}, {'pattern': 'strided', 'window': 2, 'stride': 3},
                                  {'pattern': 'strided', 'window': 4, 'stride': 2}, {'pattern': 'strided', 'window': 3}])
@pytest.mark.parametrize('causal', [True, False])
@pytest.mark.parametrize('layout', ['dense', 'window', 'blocks'])
def test_sparse_blocks_and_gradients_are_naive(opts, causal, layout):
    "The dense call for short prompts and the blockwise form (blocks of one window, or several) equal the reference, gradients too."
    a = build('sparse', causal, opts)
    a.dense_upto, a.min_block = {'dense': (64, 16), 'window': (0, 1), 'blocks': (0, 7)}[layout]
    for T in (1, 6, 13, 40):
        x = tokens(T).requires_grad_()
        y, yn = a(x), a.naive(x)
        torch.testing.assert_close(y, yn, rtol=1e-9, atol=1e-10)
        g = torch.randn_like(y)
        for d, dn in zip(torch.autograd.grad(y, [x, *a.parameters()], g), torch.autograd.grad(yn, [x, *a.parameters()], g)):
            torch.testing.assert_close(d, dn, rtol=1e-9, atol=1e-10)

def test_sparse_masks_follow_length_dtype_device():
    "The masks kept on the layer are per length and dtype: reusing the layer at another length or in float32 stays exact."
    a = build('sparse', True, {'pattern': 'strided', 'window': 2, 'stride': 3})
    a.dense_upto = 8
    for T in (13, 5, 13, 21, 5):
        torch.testing.assert_close(a(tokens(T)), a.naive(tokens(T)))
    a = a.float()
    torch.testing.assert_close(a(tokens(13).float()), a.naive(tokens(13).float()))

@pytest.mark.parametrize('feature_map', ['identity', 'elu1', 'relu2'])
@pytest.mark.parametrize('causal', [True, False])
@pytest.mark.parametrize('T', [1, 7, 16])
def test_linear_efficient_is_naive(feature_map, causal, T):
    for chunk in (1, 5, 16):
        a = build('linear', causal, {'feature_map': feature_map, 'normalize': feature_map != 'identity', 'chunk': chunk})
        torch.testing.assert_close(a(tokens(T)), a.naive(tokens(T)))

@pytest.mark.parametrize('block', [False, True])
@pytest.mark.parametrize('causal', [True, False])
@pytest.mark.parametrize('T', [1, 7, 16])
def test_lowrank_identity_full_rank_is_softmax(block, causal, T):
    a = build('lowrank', causal, {'rank_frac': 1., 'block': block, 'block_size': 4})
    with torch.no_grad(): a.proj_k.copy_(torch.eye(*a.proj_k.shape)); a.proj_v.copy_(torch.eye(*a.proj_v.shape))
    s = copy_into(build('softmax', causal, {}, seed=5), a)
    torch.testing.assert_close(a(tokens(T)), s(tokens(T)))

def test_lowrank_beyond_max_len():
    with pytest.raises(ValueError, match="longer than model.max_len=16"): build('lowrank', True, {})(tokens(MAX_LEN + 1))
    a = build('lowrank', True, {'block': True, 'block_size': 4})                     # block-wise: any length
    torch.testing.assert_close(a(tokens(40)), a.naive(tokens(40)))

@pytest.mark.parametrize('T', [1, 7, 16])
def test_gated_forms_agree(T):
    for chunk in (1, 3, 16):
        a = build('gated', True, {'chunk': chunk})
        x = tokens(T)
        torch.testing.assert_close(a(x), a.recurrent(x))
        torch.testing.assert_close(a(x), a.naive(x))

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_gated_extreme_decay(dtype):
    "Gates forgetting up to ~e^-300 a token in one head (chunks past the factorised range) and mildly in the other: outputs and gradients finite and equal to the recurrence."
    a = build('gated', True, {'chunk': 4, 'gate_temp': 1.0})
    with torch.no_grad():
        a.g.weight[:4].mul_(100.); a.g.weight[4:].zero_(); a.g.bias.zero_()  # head 0: extreme decays, head 1: e^-0.69 a token
    x = tokens(13)
    q, k, v, g = a.project(x)
    assert g[:, 0].min() < -100 and (g[:, 0, 1:4].sum(1) < -80).any() and g[:, 1].min() > -1   # both chunk kinds occur
    x_ref = x.clone().requires_grad_(); y_ref = a.recurrent(x_ref); y_ref.square().sum().backward()
    a = a.to(dtype); x = x.to(dtype).requires_grad_()
    y = a(x); y.square().sum().backward()
    assert y.isfinite().all() and x.grad.isfinite().all() and a.g.weight.grad.isfinite().all()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    torch.testing.assert_close(y.double(), y_ref.detach(), **tol)
    torch.testing.assert_close(x.grad.double(), x_ref.grad, **tol)
    torch.testing.assert_close(a(x, block=5).double(), y_ref.detach(), **tol)  # blocks carrying the state past such chunks

def test_check_messages():
    def msg(*args, **kw):
        with pytest.raises(ValueError) as e: check_attention(*args, **kw)
        return str(e.value)
    assert msg('foo', 8, 2, True, {}) == "model.attention: unknown 'foo'; allowed: " + ', '.join(attention_names())
    assert msg('sparse', 8, 2, True, {'windw': 3}) == "model.attn_options: unknown option 'windw' for 'sparse'; allowed: pattern, window, stride"
    assert msg('sparse', 8, 2, True, {'pattern': 'diag'}) == "model.attn_options.pattern: must be one of sliding, strided, block, got 'diag'"
    assert msg('gqa', 8, 4, True, {'kv_heads': 3}) == "model.attn_options.kv_heads: must divide n_heads=4, got 3"
    assert msg('softmax', 10, 4, True, {}) == "model.d_model: must be divisible by n_heads=4, got 10"
    assert msg('gated', 8, 2, False, {}).startswith("model.causal: must be True for 'gated'")
    assert msg('lowrank', 8, 2, True, {'rank_frac': 0.}) == "model.attn_options.rank_frac: must be in (0, 1], got 0.0"
    assert msg('linear', 8, 2, True, {'chunk': 2.5}) == "model.attn_options.chunk: must be of type int, got 2.5"
    with pytest.raises(ConfigError, match="kv_heads: must divide"): ModelConfig(attention='gqa', n_heads=4, attn_options={'kv_heads': 3})
    ModelConfig(attention='lowrank', attn_options={'rank_frac': 1})                  # an int is a fine float
    assert msg('deltanet', 8, 2, True, {'chunk': 0}) == "model.attn_options.chunk: must be a positive int, got 0"
    assert msg('deltanet', 8, 2, True, {'qk_norm': 1}) == "model.attn_options.qk_norm: must be of type bool, got 1"
    assert msg('mamba2', 8, 2, False, {}).startswith("model.causal: must be True for 'mamba2'")
    assert msg('gated_deltanet', 8, 2, True, {'gate_temp': 2.}).startswith("model.attn_options: unknown option 'gate_temp' for 'gated_deltanet'")
    assert msg('hybrid', 8, 2, True, {'pattern': 'softmax,,linear'}).startswith("model.attn_options.pattern: must be comma-separated families")
    assert msg('hybrid', 8, 2, True, {'layer_options': {'gated_deltanet': {'chunk': -2}}}) == "model.attn_options.layer_options.gated_deltanet.chunk: must be a positive int, got -2"
    with pytest.raises(ConfigError, match="layer_options.softmax: unknown option 'chunk'"):
        ModelConfig(attention='hybrid', attn_options={'layer_options': {'softmax': {'chunk': 3}}})


# ---- the families beyond the study documents: chunked forms against their recurrences ----

def grads(y, a, x, g):
    "Gradients of <y, g> with respect to the input and every parameter."
    return torch.autograd.grad(y, [x, *a.parameters()], g)

@pytest.mark.parametrize('name', RECURRENT)
@pytest.mark.parametrize('chunk', [1, 3, 16, 64])
def test_recurrent_gradients_are_the_recurrence(name, chunk):
    "Efficient form == token-by-token recurrence in float64, forward and gradients (input and every parameter), blocks too."
    a = build(name, True, {'chunk': chunk})
    for T in (1, 7, 16, 40):
        x = tokens(T).requires_grad_()
        y, yn = a(x), a.naive(x)
        torch.testing.assert_close(y, yn, rtol=1e-9, atol=1e-10)
        g = torch.randn_like(y)
        ref = grads(yn, a, x, g)
        yb = a(x, block=6)                                                            # blocks carrying the state
        torch.testing.assert_close(yb, yn, rtol=1e-9, atol=1e-10)
        for out in (y, yb):
            for d, dn in zip(grads(out, a, x, g), ref): torch.testing.assert_close(d, dn, rtol=1e-9, atol=1e-10)

def set_gates(a, beta_bias=None, a_log=None, dt_bias=None, spread=0.):
    "Drive a layer's gates per head: constant biases, and (spread > 0) input weights scaled up so the gates vary by token."
    with torch.no_grad():
        if beta_bias is not None and hasattr(a, 'beta'):
            a.beta.weight.mul_(spread); a.beta.bias.copy_(torch.tensor(beta_bias))
        if a_log is not None and hasattr(a, 'decay'):
            a.decay.proj.weight.mul_(spread); a.decay.A_log.copy_(torch.tensor(a_log)); a.decay.dt_bias.copy_(torch.tensor(dt_bias))
    return a

EXTREMES = {  # per head (H = 2): beta near 1 / near 0, decay near 0 (~e^-3e4 a token) / near 1 (~e^-1e-11 a token)
    'beta 1 | 0, decay 0 | 1': dict(beta_bias=[30., -30.], a_log=[8., -25.], dt_bias=[10., 0.]),
    'beta 0 | 1, decay 1 | 0': dict(beta_bias=[-30., 30.], a_log=[-25., 8.], dt_bias=[0., 10.]),
    'by token, wide': dict(beta_bias=[0., 0.], a_log=[3., 0.], dt_bias=[0., 0.], spread=40.),
}

@pytest.mark.parametrize('name', RECURRENT)
@pytest.mark.parametrize('case', EXTREMES)
def test_recurrent_extreme_gates(name, case):
    "At extreme gates and a long prompt: float64 equals the recurrence (value and gradients); float32 finite and close to it."
    a = set_gates(build(name, True, {'chunk': 16}), **EXTREMES[case])
    x = tokens(300, seed=3).requires_grad_()
    y, yn = a(x, block=64), a.naive(x)
    torch.testing.assert_close(y, yn, rtol=1e-8, atol=1e-9)
    g = torch.randn_like(y)
    for d, dn in zip(grads(y, a, x, g), grads(yn, a, x, g)): torch.testing.assert_close(d, dn, rtol=1e-7, atol=1e-8)
    a32, x32 = a.float(), x.detach().float().requires_grad_()
    y32 = a32(x32)
    d32 = grads(y32, a32, x32, g.float())
    assert y32.isfinite().all() and all(d.isfinite().all() for d in d32)
    torch.testing.assert_close(y32.double(), yn.detach(), rtol=1e-3, atol=1e-3)

def test_extreme_gates_reach_both_ends():
    "The cases above do drive the gates to their ends: beta within 1e-12 of 0 and 1, decays below e^-1000 and above e^-1e-9."
    a = set_gates(build('gated_deltanet', True, {}), **EXTREMES['beta 1 | 0, decay 0 | 1'])
    q, k, v, beta, g = a.project(tokens(20))
    assert (1 - beta[:, 0]).max() < 1e-12 and beta[:, 1].max() < 1e-12
    assert g[:, 0].max() < -1000 and g[:, 1].min() > -1e-9

def test_delta_rule_is_one_gradient_step():
    "One step of the delta rule is one gradient step of size beta on 1/2 ||S^T k - v||^2 (autograd on random S, k, v), in the recurrence and in the chunked form's carried state."
    g = torch.Generator().manual_seed(0)
    S, k, v = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((2, 3, 5, 4), (2, 3, 5), (2, 3, 4)))
    beta = torch.rand(2, 3, generator=g, dtype=torch.float64)
    S_ = S.clone().requires_grad_()
    loss = 0.5 * ((S_.transpose(-1, -2) @ k[..., None])[..., 0] - v).square().sum()
    (dS,) = torch.autograd.grad(loss, S_)
    step = S - beta[..., None, None] * dS
    torch.testing.assert_close(delta_step(S, k, v, beta), step, rtol=0, atol=1e-12)
    q = torch.randn(2, 3, 1, 5, generator=g, dtype=torch.float64)
    _, S1 = chunk_scan(q, k[:, :, None], v[:, :, None], beta[..., None], S=S, carry=True)  # one token from state S
    torch.testing.assert_close(S1, step, rtol=0, atol=1e-12)

@pytest.mark.parametrize('layers', [1, 2, 5])
def test_hybrid_model_cycles_its_pattern(layers):
    "A hybrid model's blocks cycle through the pattern, each an ordinary family; the model runs and trains."
    from icl_study.model import ICLTransformer
    cfg = ModelConfig(attention='hybrid', d_model=D, n_heads=H, num_layers=layers, max_len=MAX_LEN,
                      attn_options={'pattern': 'mamba2,softmax', 'layer_options': {'mamba2': {'chunk': 4}}})
    m = ICLTransformer(cfg, 4, 1)
    assert [b.attn.family for b in m.blocks] == ['mamba2', 'softmax', 'mamba2', 'softmax', 'mamba2'][:layers]
    assert m.blocks[0].attn.chunk == 4
    out = m(torch.randn(3, 9, 4))
    assert out.shape == (3, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
