"""Benchmark (not a test): training steps/s of every attention family, and what small models learn against GD.

    .venv/bin/python tests/bench_training.py                 # speed and learning
    .venv/bin/python tests/bench_training.py speed           # steps/s only
    .venv/bin/python tests/bench_training.py compile quick   # eager vs compiled steps/s of every family (quick, paper, or both)
    .venv/bin/python tests/bench_training.py stacked paper   # 3 seeds trained stacked vs one at a time
    .venv/bin/python tests/bench_training.py stack-tokens    # a quick cell's 5 seeds stacked vs one by one, by prompt length
    .venv/bin/python tests/bench_training.py chunk-scan      # linear attention's step with its chunked scan as it was (padded) and as it is
    .venv/bin/python tests/bench_training.py budget          # final nMSE of a quick cell (5 seeds) with less training or a smaller model (BUDGET)
    .venv/bin/python tests/bench_training.py step-ops        # the ops that take a quick stacked step's time (sweep:variant:value ...)
    .venv/bin/python tests/bench_training.py slow-paths      # exp of subnormal results and masked_fill against a plain exp
    .venv/bin/python tests/bench_training.py bf16            # a quick cell's step in float32 and under bfloat16 autocast (sweep:variant:value ...)
    .venv/bin/python tests/bench_training.py faithful-cost   # minutes of training of each faithful group on one core (context depth ...)
    .venv/bin/python tests/bench_training.py group-steps     # ms per step of quick cells' seeds stacked and alone (sweep:variant:value ...)
    .venv/bin/python tests/bench_training.py gpt2            # our training step vs HF GPT-2's, side by side
    .venv/bin/python tests/bench_training.py profile         # the ops that take a paper-size step's time
    .venv/bin/python tests/bench_training.py quick           # step time of every family against softmax at the quick size

Speed: d=5, 41 context points, d_model 64, 4 heads, 2 layers, batch 64, one thread, 100 steps per family, two rounds.
Quick: the quick profile's model (d=5, d_model 32, 2 heads, 2 layers, batch 64, one thread) at 11 and 41 context points:
milliseconds of CPU time per training step (forward, backward, clipping, AdamW), interleaved blocks of 10 steps, the
median of 6; CPU time of the one thread rather than wall time, so that other work on a shared machine counts less.
Learning: d=5, n=41, 1500 steps; a 1-layer identity-map linear attention (no MLP, no LayerNorm) and a 2-layer softmax
model, scored on 1000 evaluation tasks next to one-step GD and least squares, with their alignment to both.
compile / stacked: `icl_study.speed.family_rates` at the quick profile's base size (d=5, n=11, width 32, 2 heads,
2 layers, batch 64) and the paper profile's (d=20, n=41, width 64, 4 heads, 8 layers, batch 64), every family with
the profile's options, one thread. The clock is this thread's CPU time (BENCH_CLOCK=wall for wall time): on a busy
shared machine it is much steadier. Compiles use the Inductor cache in .cache/inductor (cold on a first run).
stack-tokens: what sets `sweeps.STACK_CPU_TOKENS`. A quick context cell's 5 seeds (d=5, width 32, 2 heads, 2 layers,
batch 64, 150 steps and the final evaluation) trained by `train_stacked` against `train` one seed after the other, for
prompts of n_points + 1 tokens, one thread, by this thread's CPU time and by wall time; rounds alternate which goes
first; the median ratio of each.
Options: `families=softmax,linear n_points=10,20,40 rounds=2 steps=150`.
"""
import os, statistics, sys, time
from pathlib import Path
os.environ.setdefault('TORCHINDUCTOR_CACHE_DIR', str(Path(__file__).resolve().parent.parent / '.cache' / 'inductor'))
import pandas as pd, torch
from icl_study.config import RunConfig, TaskConfig, ModelConfig, TrainConfig, EvalConfig
from icl_study.train import train
from icl_study.tasks import eval_tasks
from icl_study.evaluate import alignment_rows, model_predictor, baseline_predictions, error_rows
from icl_study.efficiency import top_ops
from icl_study.speed import family_rates, gpt2_benchmark

OPTIONS = {'softmax': {}, 'gqa': {'kv_heads': 1}, 'sparse': {'window': 16}, 'linear': {}, 'lowrank': {'rank_frac': 0.5}, 'gated': {},
           'deltanet': {}, 'gated_deltanet': {}, 'mamba2': {}, 'hybrid': {}}
CLOCK = os.environ.get('BENCH_CLOCK', 'cpu')
pd.set_option('display.width', 200)

def speed(rounds=2, steps=100):
    task = TaskConfig(d=5, n_points=41)
    for _ in range(rounds):
        print({att: round(train(RunConfig(task=task, model=ModelConfig(attention=att, d_model=64, n_heads=4, num_layers=2, attn_options=o),
                                          train=TrainConfig(steps=steps, batch_size=64), eval=EvalConfig(n_tasks=100)),
                                progress=False).steps_per_s, 1) for att, o in OPTIONS.items()}, flush=True)

def quick(n_points=(11, 41), rounds=6, steps=10):
    from icl_study.model import ICLTransformer
    from icl_study.train import make_optimizer
    from icl_study.speed import _train_step
    for n in n_points:
        torch.manual_seed(0)
        models = {f: ICLTransformer(ModelConfig(attention=f, d_model=32, n_heads=2, num_layers=2, max_len=64, attn_options=o), 6, 1)
                  for f, o in OPTIONS.items()}
        opts = {f: make_optimizer(m, TrainConfig()) for f, m in models.items()}
        g = torch.Generator().manual_seed(0)
        tokens, target = torch.randn(64, n + 1, 6, generator=g), torch.randn(64, 1, generator=g)
        ms = {f: [] for f in models}
        for r in range(rounds + 1):
            for f, m in models.items():
                t0 = time.process_time()
                for _ in range(steps): _train_step(m, opts[f], tokens, target)
                if r: ms[f].append(1e3 * (time.process_time() - t0) / steps)
        base = statistics.median(ms['softmax'])
        print(f"n_points={n}:", {f: f"{statistics.median(v):.1f} ms ({statistics.median(v) / base:.2f}x)" for f, v in ms.items()}, flush=True)

def learning(steps=1500):
    task, ev = TaskConfig(d=5, n_points=41), EvalConfig(n_tasks=1000, bootstrap=200)
    models = {'linear, 1 layer, identity map': ModelConfig(attention='linear', d_model=32, n_heads=1, num_layers=1, mlp_ratio=0., layer_norm=False),
              'softmax, 2 layers': ModelConfig(d_model=64, n_heads=4, num_layers=2)}
    t = eval_tasks(task, ev)
    for name, mc in models.items():
        r = train(RunConfig(task=task, model=mc, train=TrainConfig(steps=steps), eval=ev), progress=False)
        al = pd.DataFrame(alignment_rows(model_predictor(r.model), t[:300], task, ('gd_1step', 'least_squares'), ev))
        print(f"{name}: nmse {r.final_nmse:.4f}, {r.steps_per_s:.1f} steps/s;",
              al.pivot(index='reference', columns='metric', values='value').round(3).to_dict('index'), flush=True)
    base = error_rows(baseline_predictions(t, task, ('gd_1step', 'least_squares')), t, task, ev)
    print({r['predictor']: round(r['value'], 4) for r in base if r['metric'] == 'nmse'})

def stack_tokens(families=('softmax', 'linear', 'deltanet', 'lowrank', 'gated_deltanet', 'mamba2', 'hybrid'),
                 n_points=(10, 20, 40), rounds=2, steps=150):
    from icl_study.config import override
    from icl_study.sweeps import sweep_cells
    from icl_study.stacked import train_stacked, can_stack
    cells = sweep_cells('context', 'quick')
    rows = []
    for n in n_points:
        for fam in families:
            base = [c.cfg for c in cells if c.cfg.model.attention == fam and c.cfg.task.n_points == 10]
            cfgs = [override(c, {'train.steps': steps, 'task.n_points': n, 'model.max_len': max(c.model.max_len, n + 1)}) for c in base]
            assert len(cfgs) == 5 and can_stack(cfgs), fam
            ts = {(k, c): [] for k in ('stacked', 'alone') for c in ('cpu', 'wall')}
            for r in range(rounds):
                for kind in (('stacked', 'alone') if r % 2 == 0 else ('alone', 'stacked')):
                    c0, w0 = time.thread_time(), time.perf_counter()
                    if kind == 'stacked': train_stacked(cfgs, progress=False)
                    else: [train(c, progress=False) for c in cfgs]
                    ts[kind, 'cpu'].append(time.thread_time() - c0); ts[kind, 'wall'].append(time.perf_counter() - w0)
            row = dict(family=fam, n_points=n, tokens=n + 1)
            for c in ('cpu', 'wall'):
                row |= {f'alone_{c}_s': statistics.median(ts['alone', c]), f'stacked_{c}_s': statistics.median(ts['stacked', c]),
                        f'gain_{c}': statistics.median(a / s for a, s in zip(ts['alone', c], ts['stacked', c]))}
            rows.append(row)
            print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    df = pd.DataFrame(rows)
    for c in ('cpu', 'wall'):
        print(f"--- {c} clock, {steps} steps, 5 seeds: time one by one / time stacked (median of {rounds} rounds)")
        print(df.pivot(index='family', columns='tokens', values=f'gain_{c}').loc[list(families)].round(2).to_string(), flush=True)

def _padded_scan(q, k, v, chunk=16):
    "`causal_linear` as it was: every chunk padded to `chunk` tokens, the state read and updated at every chunk."
    import torch.nn.functional as F
    from icl_study.attention.linear import decayed_scores
    B, H, T, Dk = q.shape
    n = -(-T // chunk); pad = n * chunk - T
    split = lambda x: F.pad(x, (0, 0, 0, pad)).view(B, H, n, chunk, x.shape[-1]).unbind(2)
    S, outs = q.new_zeros(B, H, Dk, v.shape[-1]), []
    for qc, kc, vc in zip(split(q), split(k), split(v)):
        outs.append(qc @ S + decayed_scores(qc, kc) @ vc); S = S + kc.transpose(-1, -2) @ vc
    return torch.cat(outs, 2)[:, :, :T]

def chunk_scan(cells=('context:linear:10', 'context:linear:20', 'depth:linear-relu2:6'), rounds=6, steps=8):
    "A quick cell's training step with linear attention's scan as it was (padded) and as it is, interleaved rounds, this thread's CPU time."
    import icl_study.attention.linear as LN
    scans = {'padded': _padded_scan, 'now': LN.causal_linear}
    for spec in cells:
        cfgs = _quick_cells(spec)
        for kind in ('stacked', 'one'):
            t, step = _stepper(cfgs if kind == 'stacked' else cfgs[:1])
            ms = {k: [] for k in scans}
            for r in range(rounds + 1):
                for name in (list(scans) if r % 2 else list(scans)[::-1]):
                    LN.causal_linear = scans[name]; step()
                    t0 = time.thread_time()
                    for _ in range(steps): step()
                    if r: ms[name].append(1e3 * (time.thread_time() - t0) / steps)
            LN.causal_linear = scans['now']
            a, b = (statistics.median(ms[k]) for k in scans)
            print(f"{spec} {kind}: padded {a:.1f} ms/step, now {b:.1f} ms/step, gain {a / b:.2f}x", flush=True)

def _quick_cells(spec: str) -> list:
    "The configs (one per seed) of the quick cell `sweep:variant:value`."
    from icl_study.sweeps import sweep_cells
    name, var, val = spec.split(':')
    return [c.cfg for c in sweep_cells(name, 'quick') if c.variant == var and str(next(iter(c.values.values()))) == val]

def _stepper(cfgs: list):
    "A trainee of these seeds (stacked if several) and one optimiser step of it on a fixed random batch."
    from icl_study.stacked import StackedTrainee
    from icl_study.train import Trainee
    t = StackedTrainee(cfgs) if len(cfgs) > 1 else Trainee(cfgs[0])
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(len(cfgs) * cfgs[0].train.batch_size, cfgs[0].task.n_points + 1, cfgs[0].task.d + 1, generator=g)
    yq = torch.randn(len(tokens), 1, generator=g)
    def step():
        t.opt.zero_grad(set_to_none=True); t.losses(tokens, yq).sum().backward(); t.clip(1.0); t.opt.step()
    return t, step

def group_steps(cells=('context:softmax:10', 'context:lowrank:20', 'rank:lowrank-block:0.5', 'depth:linear-relu2:6'), steps=20):
    "Milliseconds per training step of a quick cell's seeds, stacked and one seed alone (`sweep:variant:value`, this thread's CPU time)."
    for spec in cells:
        cfgs, out = _quick_cells(spec), {}
        for kind in ('stacked', 'one'):
            _, step = _stepper(cfgs if kind == 'stacked' else cfgs[:1])
            for _ in range(3): step()
            t0 = time.thread_time()
            for _ in range(steps): step()
            out[kind] = 1e3 * (time.thread_time() - t0) / steps
        print(f"{spec}: {len(cfgs)} seeds stacked {out['stacked']:.1f} ms/step, one seed {out['one']:.1f} ms/step, "
              f"gain {len(cfgs) * out['one'] / out['stacked']:.2f}x", flush=True)

def step_ops(cells=('context:softmax:10', 'context:sparse:10', 'context:linear:10', 'context:lowrank:10', 'context:gated:10',
                    'context:deltanet:10', 'context:gated_deltanet:10', 'context:hybrid:10', 'rank:lowrank-block:0.5'), k=8):
    "Where one training step of quick cells (all seeds, stacked) spends its time: the aten ops with the most self CPU time."
    for spec in cells:
        _, step = _stepper(_quick_cells(spec))
        ops = top_ops(torch.enable_grad()(step), k=k)
        print(f"{spec}:", ', '.join(f"{r.op.replace('aten::', '')} {100 * r.share:.0f}%" for r in ops.itertuples()), flush=True)

def slow_paths(n=655360, repeats=50):
    "CPU slow paths: exp by the range of its argument (results below the smallest normal float), and masked_fill against exp."
    x, mask = torch.randn(n), torch.randn(n) < 0
    def ms(f):
        for _ in range(3): f()
        t0 = time.thread_time()
        for _ in range(repeats): f()
        return 1e3 * (time.thread_time() - t0) / repeats
    base = ms(lambda: x.exp())
    for v in (-50., -86., -88., -95., -105., float('-inf')):
        y = x.clone(); y[::2] = v
        print(f"exp, half the arguments at {v:g}: {ms(lambda: y.exp()) / base:.1f}x exp of normal arguments", flush=True)
    print(f"masked_fill with a boolean mask: {ms(lambda: x.masked_fill(mask, 0.)) / base:.1f}x exp", flush=True)

def bf16(cells=('context:softmax:10', 'context:gated:10', 'context:mamba2:10', 'depth:linear-relu2:6', 'context:linear:40',
                'rank:lowrank-block:0.5'), rounds=3, steps=10):
    "Milliseconds per training step of quick cells (all seeds, stacked) in float32 and under bfloat16 autocast, interleaved rounds, this thread's CPU time."
    for spec in cells:
        _, step = _stepper(_quick_cells(spec))
        def autocast():
            with torch.autocast('cpu', dtype=torch.bfloat16): step()
        ms = {'float32': [], 'bfloat16': []}
        for f in (step, autocast): [f() for _ in range(3)]
        for _ in range(rounds):
            for k, f in (('float32', step), ('bfloat16', autocast)):
                t0 = time.thread_time()
                for _ in range(steps): f()
                ms[k].append(1e3 * (time.thread_time() - t0) / steps)
        a, b = (statistics.median(ms[k]) for k in ms)
        print(f"{spec}: float32 {a:.1f} ms/step, bfloat16 autocast {b:.1f} ms/step, gain {a / b:.2f}x", flush=True)

def faithful_cost(sweeps=('context', 'depth', 'length', 'heads'), steps=5):
    "Each training group of the faithful profile: ms per step (its seeds stacked where they stack), steps, and minutes of training on one core."
    from icl_study.sweeps import sweep_cells, groups_of
    for name in sweeps:
        for g in groups_of(sweep_cells(name, 'faithful')):
            cfgs = list({c.cfg.seed: c.cfg for c in g}.values())
            _, step = _stepper(cfgs)
            for _ in range(2): step()
            t0 = time.thread_time()
            for _ in range(steps): step()
            ms = 1e3 * (time.thread_time() - t0) / steps
            c = g[0].cfg
            print(f"{name} {g[0].variant} {g[0].values}: {len(cfgs)} seed(s), d = {c.task.d}, {c.task.n_points + 1} tokens, "
                  f"{c.model.num_layers} layers, {ms:.0f} ms/step x {c.train.steps} steps = {ms * c.train.steps / 6e4:.1f} min", flush=True)

BUDGET = {  # name -> dotted overrides of the quick context cell at n = 10; compute is steps x batch x model FLOPs
    'now (500 steps, batch 64)': {},
    '300 steps': {'train.steps': 300, 'train.warmup': 30},
    '350 steps': {'train.steps': 350, 'train.warmup': 35},
    '330 steps, lr 5e-3': {'train.steps': 330, 'train.warmup': 33, 'train.lr': 5e-3},
    'batch 42, lr 4e-3': {'train.batch_size': 42, 'train.lr': 4e-3},
    '250 steps, batch 128, lr 5e-3': {'train.steps': 250, 'train.batch_size': 128, 'train.lr': 5e-3, 'train.warmup': 25},
    'width 24': {'model.d_model': 24},
    'MLP ratio 2': {'model.mlp_ratio': 2.},
}

def budget(families=('softmax', 'linear', 'gated'), settings=tuple(BUDGET)):
    "What less training per cell costs in error: the quick context cell at n = 10 (all its seeds, stacked) under each setting of `BUDGET`."
    import numpy as np
    from icl_study.config import override
    from icl_study.stacked import train_stacked
    c0 = _quick_cells('context:softmax:10')[0]
    t = eval_tasks(c0.task, c0.eval)                                          # the evaluation tasks `final_nmse` is scored on
    ref = error_rows(baseline_predictions(t, c0.task, ('gd_1step',)), t, c0.task, c0.eval)
    print('one-step GD on the same tasks: nMSE', *[f"{r['value']:.3f}" for r in ref if r['metric'] == 'nmse'], flush=True)
    for fam in families:
        base = _quick_cells(f'context:{fam}:10')
        for name in settings:
            cfgs = [override(c, BUDGET[name]) for c in base]
            t0 = time.thread_time(); f = np.array([r.final_nmse for r in train_stacked(cfgs, progress=False)])
            print(f"{fam}, {name}: final nMSE {f.mean():.3f} ± {f.std(ddof=1) / np.sqrt(len(f)):.3f} (s.e., {len(f)} seeds), "
                  f"{time.thread_time() - t0:.1f} s", flush=True)

def rates(kinds, profiles, steps):
    for p in profiles:
        print(f"--- {p} size, {CLOCK} clock, steps/s per run (gain over eager); first_s = first 3 steps incl. compile", flush=True)
        df = family_rates(p, kinds, steps=steps[p], repeats=3, warmup=3, clock=CLOCK, progress=True)
        print(df.pivot(index='family', columns='kind', values='run_steps_per_s').round(2).to_string())
        print(df.pivot(index='family', columns='kind', values='gain').round(2).to_string(), flush=True)

if __name__ == '__main__':
    torch.set_num_threads(1)
    what, rest = (sys.argv[1:2] or ['speed+learning'])[0], sys.argv[2:]
    profiles = [p for p in ('quick', 'paper') if not rest or p in rest]
    if what in ('speed', 'speed+learning'): speed()
    if what in ('learning', 'speed+learning'): learning()
    if what == 'quick': quick()
    if what == 'compile': rates(('eager', 'compiled'), profiles, {'quick': 20, 'paper': 4})
    if what == 'stacked': rates(('eager', 'stacked'), profiles, {'quick': 20, 'paper': 4})
    if what == 'stack-tokens':
        kw = dict(a.split('=', 1) for a in rest)
        stack_tokens(**{k: tuple(int(x) if x.isdigit() else x for x in v.split(',')) if k in ('families', 'n_points') else int(v)
                        for k, v in kw.items()})
    if what == 'chunk-scan': chunk_scan()
    if what == 'faithful-cost': faithful_cost(*([tuple(rest)] if rest else []))
    if what == 'step-ops': step_ops(*([tuple(rest)] if rest else []))
    if what == 'slow-paths': slow_paths()
    if what == 'bf16': bf16(*([tuple(rest)] if rest else []))
    if what == 'budget': budget(*([tuple(rest[0].split(','))] if rest else []))
    if what == 'group-steps': group_steps(*([tuple(rest)] if rest else []))
    if what == 'gpt2':
        r = gpt2_benchmark(steps=5, repeats=12, clock=CLOCK)
        print(r[['model', 'params', 'steps_per_s', 'steps_per_s_max', 'speedup_vs_gpt2']].round(3).to_string(index=False))
    if what == 'profile':
        from icl_study.speed import bench_config
        from icl_study.train import Trainee, step_losses, step_update
        from icl_study.tasks import TaskStream
        cfg = bench_config('softmax', 'paper', **{'train.compile': 'off'})
        tr, st = Trainee(cfg), [TaskStream(cfg)]
        one = lambda: step_update(tr, step_losses(tr, st, cfg.train, 0), cfg.train)
        print(top_ops(torch.enable_grad()(one), k=15).round(3).to_string(index=False))
