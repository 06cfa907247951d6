"""Benchmark (not a test): training steps/s of every attention family, and what small models learn against GD.

    .venv/bin/python tests/bench_training.py            # both parts
    .venv/bin/python tests/bench_training.py speed      # steps/s only

Speed: d=5, 41 context points, d_model 64, 4 heads, 2 layers, batch 64, one thread, 100 steps per family, two rounds.
Learning: d=5, n=41, 1500 steps; a 1-layer identity-map linear attention (no MLP, no LayerNorm) and a 2-layer softmax
model, scored on 1000 evaluation tasks next to one-step GD and least squares, with their alignment to both.
"""
import sys
import pandas as pd, torch
from icl_study.config import RunConfig, TaskConfig, ModelConfig, TrainConfig, EvalConfig
from icl_study.train import train
from icl_study.tasks import eval_tasks
from icl_study.evaluate import alignment_rows, model_predictor, baseline_predictions, error_rows

OPTIONS = {'softmax': {}, 'gqa': {'kv_heads': 1}, 'sparse': {'window': 16}, 'linear': {}, 'lowrank': {'rank_frac': 0.5}, 'gated': {}}

def speed(rounds=2, steps=100):
    task = TaskConfig(d=5, n_points=41)
    for _ in range(rounds):
        print({att: round(train(RunConfig(task=task, model=ModelConfig(attention=att, d_model=64, n_heads=4, num_layers=2, attn_options=o),
                                          train=TrainConfig(steps=steps, batch_size=64), eval=EvalConfig(n_tasks=100)),
                                progress=False).steps_per_s, 1) for att, o in OPTIONS.items()}, flush=True)

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

if __name__ == '__main__':
    torch.set_num_threads(1)
    what = sys.argv[1:] or ['speed', 'learning']
    if 'speed' in what: speed()
    if 'learning' in what: learning()
