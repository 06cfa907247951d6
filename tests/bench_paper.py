"""Estimate (not a test): the size of the paper profile, from its cells' configs.

    .venv/bin/python tests/bench_paper.py

Counts the training steps of every paper cell, the same weighted by depth (8-layer equivalents), and the matmul FLOPs
of one forward + backward pass per cell (torch's FlopCounterMode; it misses the CPU SDPA kernel and elementwise ops).
Turning these into hours needs a measured throughput: on one CPU core the 8-layer width-64 model trains at ~5.7
steps/s (`python -m icl_study.efficiency --gpt2`); a GPU is bound by kernel launches at these sizes (~2 ms a step).
"""
import torch
from torch.utils.flop_counter import FlopCounterMode
from icl_study.model import build_model
from icl_study.sweeps import sweep_cells, SWEEPS

if __name__ == '__main__':
    torch.set_num_threads(1)
    cells = steps = equiv = flops = 0
    for s in SWEEPS:
        for c in sweep_cells(s, 'paper'):
            cfg, cells = c.cfg, cells + 1
            x = torch.randn(cfg.train.batch_size, cfg.task.n_points + 1, cfg.task.d + cfg.task.out_dim)
            with FlopCounterMode(display=False) as fc: build_model(cfg)(x).sum().backward()
            steps += cfg.train.steps; equiv += cfg.train.steps * cfg.model.num_layers / 8
            flops += fc.get_total_flops() * cfg.train.steps
    print(f"{cells} cells; {steps:,} training steps; {equiv:,.0f} 8-layer-equivalent steps; {flops:.3g} matmul FLOPs")
    for label, rate in (('one CPU core at 5.7 steps/s', 5.7), ('one GPU at ~2 ms a step', 500)):
        print(f"{label}: about {equiv / rate / 3600:.1f} h of training")
