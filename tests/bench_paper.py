"""Estimate (not a test): the size of the paper profile, from its cells' configs.

    .venv/bin/python tests/bench_paper.py

Counts the training steps of every paper cell, the same weighted by depth (8-layer equivalents; the accounting
`make gpu-check` turns into hours with measured GPU figures: `icl_study.gpucheck.paper_workload`), and the matmul
FLOPs of one forward + backward pass per cell (torch's FlopCounterMode; it misses the CPU SDPA kernel and elementwise
ops). Turning these into hours needs a measured throughput: on one CPU core the 8-layer width-64 model trains at about
7 steps/s (`python tests/bench_training.py compile paper`); a GPU is bound by kernel launches at these sizes.
"""
import torch
from torch.utils.flop_counter import FlopCounterMode
from icl_study.model import build_model
from icl_study.sweeps import sweep_cells, SWEEPS
from icl_study.gpucheck import paper_workload

if __name__ == '__main__':
    torch.set_num_threads(1)
    work = paper_workload('paper')
    flops = 0
    for s in SWEEPS:
        for c in sweep_cells(s, 'paper'):
            cfg = c.cfg
            x = torch.randn(cfg.train.batch_size, cfg.task.n_points + 1, cfg.task.d + cfg.task.out_dim)
            with FlopCounterMode(display=False) as fc: build_model(cfg)(x).sum().backward()
            flops += fc.get_total_flops() * cfg.train.steps
    steps, equiv = sum(c['steps'] for c in work), sum(c['eq8'] for c in work)
    print(f"{len(work)} cells; {steps:,} training steps; {equiv:,.0f} 8-layer-equivalent steps; {flops:.3g} matmul FLOPs")
    for label, rate in (('one CPU core at 7 steps/s', 7), ('one GPU at ~2 ms a step', 500)):
        print(f"{label}: about {equiv / rate / 3600:.1f} h of training per seed")
