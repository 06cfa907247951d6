"CUDA-only tests (skipped on the CPU machines; `make gpu-check` runs them): training on a GPU gives the CPU's numbers."
import math
from dataclasses import replace
import pytest
import torch
from icl_study.config import override
from icl_study.speed import bench_config, gpt2_benchmark
from icl_study.sweeps import families
from icl_study.stacked import train_stacked, can_stack
from icl_study.train import train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')

def smoke(family='softmax', **over):
    "A few steps of `family` at the smoke profile's size, on CUDA."
    return bench_config(family, 'smoke', **{'train.device': 'cuda', 'train.steps': 6, 'train.eval_at': (3,), **over})

def close(a, b, rtol=1e-3):
    "Histories and evaluations agree within `rtol` (relative)."
    assert [s for s, _ in a.history] == [s for s, _ in b.history]
    for (_, x), (_, y) in zip(a.history, b.history): assert abs(x - y) <= rtol * max(abs(x), 1e-6), (x, y)
    for k in a.evals: assert abs(a.evals[k] - b.evals[k]) <= rtol * max(abs(a.evals[k]), 1e-6)

@cuda
@pytest.mark.parametrize('family', families())
def test_cuda_matches_cpu_training(family):
    "The same run on CUDA and on the CPU: the same losses and evaluations up to float rounding."
    cfg = smoke(family)
    close(train(cfg, progress=False, log_every=1), train(override(cfg, {'train.device': 'cpu'}), progress=False, log_every=1))

@cuda
@pytest.mark.parametrize('family', ['softmax', 'gated'])
def test_cuda_compiled_matches_eager(family):
    "train.compile='on' (CUDA graphs) gives eager's numbers (every family: the gpu-check's own equivalence stage)."
    cfg = smoke(family)
    close(train(override(cfg, {'train.compile': 'on'}), progress=False, log_every=1),
          train(override(cfg, {'train.compile': 'off'}), progress=False, log_every=1))

@cuda
@pytest.mark.parametrize('family', ['softmax', 'gated'])
def test_cuda_stacked_matches_solo(family):
    "Three seeds trained together on CUDA end as three solo runs."
    cfgs = [replace(smoke(family), seed=s) for s in range(3)]
    assert can_stack(cfgs)
    for t, a in zip(train_stacked(cfgs, progress=False, log_every=1), [train(c, progress=False, log_every=1) for c in cfgs]):
        close(t, a)

@cuda
def test_cuda_resume_matches_whole_run(tmp_path):
    "A run resumed on CUDA from a checkpoint matches the uninterrupted run (to float rounding)."
    cfg = smoke(**{'train.steps': 12})
    whole = train(cfg, progress=False, log_every=1)
    def boom(step, model):
        if step == 3: raise RuntimeError('stop')
    with pytest.raises(RuntimeError): train(cfg, boom, progress=False, log_every=1, checkpoint_dir=tmp_path, checkpoint_every=2)
    again = train(cfg, progress=False, log_every=1, checkpoint_dir=tmp_path)
    assert again.resumed_from == 2
    close(again, whole, rtol=1e-5)

@cuda
def test_cuda_divergence_is_caught_late_but_right():
    "On CUDA the losses are read back every SYNC_EVERY steps: a divergence still reports its own step."
    res = train(smoke(**{'train.lr': 1e3, 'train.grad_clip': 0., 'train.warmup': 0, 'train.steps': 60}), progress=False, log_every=1)
    assert res.status == 'diverged' and res.diverged_at is not None
    assert res.history[-1][0] == res.diverged_at
    last = res.history[-1][1]
    assert not math.isfinite(last) or last > 1e3

@cuda
def test_cuda_gpt2_benchmark_runs():
    r = gpt2_benchmark(num_layers=2, batch=8, steps=2, repeats=1, device='cuda', threads=None, extra=('ours-compiled',))
    assert list(r.model) == ['ours', 'gpt2', 'ours-compiled'] and (r.steps_per_s > 0).all()
