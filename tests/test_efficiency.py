"The efficiency table: its shape, the growth of the operation counts, the decoding-state formulas, the memory tracker and the GPT-2 baseline (counts and sizes only: no timing is asserted)."
import pandas as pd
import pytest
import torch
from icl_study.efficiency import (VARIANTS, build_attention, count_ops, softmax_flops, state_bytes, peak_memory,
                                  efficiency_table, scaling_summary)
from icl_study.speed import GargModel
from icl_study.config import ModelConfig
from icl_study.model import ICLTransformer, n_params

COLUMNS = {'variant', 'n', 'params', 'flops', 'forward_ms', 'peak_mem_mb', 'state_bytes_per_token'}


def flops(variant, n, **kw):
    return count_ops(build_attention(variant, n, **kw), torch.randn(1, n, kw.get('d_model', 64))).flops

def test_table_shape():
    ns = (16, 48)
    df = efficiency_table(ns=ns, repeats=1)
    assert COLUMNS <= set(df.columns)
    assert len(df) == len(VARIANTS) * len(ns)
    assert sorted(zip(df.variant, df.n)) == sorted((v, n) for v in VARIANTS for n in ns)
    assert df[['params', 'flops', 'forward_ms', 'peak_mem_mb', 'state_bytes_per_token']].gt(0).all().all()
    assert (df.threads == 1).all()
    one = efficiency_table([('mqa', 'gqa', {'kv_heads': 1})], ns=(8,), d_model=32, n_heads=2, repeats=1)
    assert list(one.variant) == ['mqa'] and one.params.item() == 2 * 32 * 32 + 2 * 32 * 16  # q, o; one k and v head

def test_softmax_flops_closed_form():
    for n in (32, 100):
        assert flops('softmax', n) == softmax_flops(n)
        assert flops('gqa', n) == softmax_flops(n, kv_heads=1)
    assert flops('softmax', 40, d_model=32, n_heads=2) == softmax_flops(40, 32, 2)

@pytest.mark.parametrize('variant', ['softmax', 'gqa'])
def test_quadratic_flops(variant):
    "f(n) = a n + b n^2 exactly, with b = 4 D (the two n x n products of SDPA, counted dense)."
    f = {n: flops(variant, n) for n in (128, 256, 512)}
    b = (f[512] / 512 - f[256] / 256) / 256
    assert b == 4 * 64
    assert f[256] / 256 - f[128] / 128 == b * 128
    assert f[512] / f[128] > 8                                                 # clearly super-linear

@pytest.mark.parametrize('variant', ['sparse', 'linear', 'lowrank', 'gated'])
def test_linear_flops(variant):
    """Past the window / rank / chunk the count grows linearly in n: each 128 tokens add the same FLOPs, and doubling n
    doubles it (for linear attention up to a constant: its scan skips the state before the first chunk and after the last)."""
    f128, f256, f384, f512 = (flops(variant, n) for n in (128, 256, 384, 512))
    assert f256 - f128 == f384 - f256 == f512 - f384
    if variant == 'linear': assert abs(2 * f128 - f256) < 0.01 * f256
    else: assert f256 == 2 * f128 and f512 == 2 * f256

def test_elementwise_counted():
    x = torch.randn(1, 64, 64)
    c = count_ops(build_attention('gated', 64), x)
    assert c.elementwise > 0 and 'aten.exp' in c.by_op                      # invisible to FlopCounterMode
    assert count_ops(build_attention('gated', 128), torch.randn(1, 128, 64)).elementwise == 2 * c.elementwise

def test_state_bytes_formulas():
    D, H, Dh, f = 64, 4, 16, 4                                                 # width, heads, head width, float32
    kv = lambda tokens, heads=H: tokens * 2 * heads * Dh * f
    for n in (1, 63, 64, 65, 1000):
        assert state_bytes(build_attention('softmax', 8), n) == kv(n)
        assert state_bytes(build_attention('gqa', 8), n) == kv(n, 1)
        assert state_bytes(build_attention(('g2', 'gqa', {'kv_heads': 2}), 8), n) == kv(n, 2)
        assert state_bytes(build_attention('sparse', 8), n) == kv(min(n, 64))
        assert state_bytes(build_attention(('b', 'sparse', {'pattern': 'block', 'window': 8}), 8), n) == kv(min(n, 8))
        assert state_bytes(build_attention(('s', 'sparse', {'pattern': 'strided', 'window': 8}), 8), n) == kv(n)
        assert state_bytes(build_attention('lowrank', 64), n) == kv(n)         # slot ends move with n: full cache
        assert state_bytes(build_attention('linear', 8), n) == H * Dh * (Dh + 1) * f
        assert state_bytes(build_attention(('l', 'linear', {'feature_map': 'identity', 'normalize': False}), 8), n) == H * Dh * Dh * f
        assert state_bytes(build_attention('gated', 8), n) == H * Dh * Dh * f
    blk = build_attention(('lb', 'lowrank', {'block': True, 'block_size': 16, 'rank': 4}), 8)
    assert state_bytes(blk, 16) == kv(16)                                      # the first block, uncompressed
    assert state_bytes(blk, 40) == kv(8 + 2 * 4)                               # 8 tokens of block 3, 4 slots of blocks 1, 2
    df = efficiency_table(['softmax', 'linear'], ns=(64, 128), repeats=1)
    per = df.set_index(['variant', 'n']).state_bytes_per_token
    assert per['softmax', 64] == per['softmax', 128] == 512                   # constant per token
    assert per['linear', 64] == 2 * per['linear', 128]                         # constant state, amortised

def test_peak_memory():
    assert abs(peak_memory(lambda: (torch.ones(2**18) * 2).sum()) - 2**21) < 64
    a, x = build_attention('softmax', 512), torch.randn(1, 512, 64)
    dense = 4 * 512 * 512 * 4                                                  # one (H, n, n) float32 matrix
    assert peak_memory(a, x) < dense < peak_memory(a.naive, x)

def test_scaling_summary():
    rows = [dict(variant=v, n=n, forward_ms=ms, flops=fl, peak_mem_mb=1.) for v, n, ms, fl in
            [('softmax', 4, 10., 100), ('softmax', 16, 160., 1600), ('fast', 4, 1., 40), ('fast', 16, 4., 160)]]
    s = scaling_summary(pd.DataFrame(rows), 4, 16)
    assert list(s.index) == ['softmax', 'fast']
    assert s.loc['fast', 'time_ratio'] == 4 and s.loc['softmax', 'time_ratio'] == 16
    assert s.loc['fast', 'speedup_16'] == 40 and s.loc['fast', 'flop_ratio'] == 4
    assert s.efficient.tolist() == [False, True]

def test_gpt2_same_size():
    for L, D in ((2, 64), (3, 128)):
        cfg = ModelConfig(d_model=D, n_heads=4, num_layers=L, max_len=42)
        ours, garg = ICLTransformer(cfg, 6, 1), GargModel(cfg, 6, 1, 42)
        # GPT-2's extras: position embedding, a one-row token embedding, biases of c_attn and c_proj
        assert n_params(garg) - n_params(ours) == (42 + 1) * D + L * 4 * D
        assert (n_params(garg) - n_params(ours)) / n_params(ours) < 0.05
        x = torch.randn(5, 42, 6)
        assert garg(x).shape == ours(x).shape == (5, 1)
        b = garg.backbone.config
        assert (b.n_embd, b.n_layer, b.n_head, b.n_inner, b.resid_pdrop, b.attn_pdrop) == (D, L, 4, 4 * D, 0., 0.)

def test_peak_memory_is_quiet():
    "The profiler behind `peak_memory` prints nothing to stderr (its C++ side would print a line per start and stop)."
    import subprocess, sys
    code = "import torch; from icl_study.efficiency import peak_memory; print(peak_memory(lambda: torch.ones(100, 100) * 2))"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert int(r.stdout.strip()) > 0 and 'USDT' not in r.stderr and 'profiler' not in r.stderr, r.stderr
