"""Where `make report`'s time goes: training, evaluation and rendering, from the cell cache and the run's log.

    (time make report) 2>&1 | tee /tmp/report.log
    .venv/bin/python tests/bench_report.py runs/quick /tmp/report.log

Each cell record (`runs/<profile>/cells/*.json`) keeps the seconds its group took in a worker and, per trained model,
`train_wall_s`; the log gives the wall time of the cell phase (the last progress line) and of the whole command.
"""
import json, re, sys
from collections import defaultdict
from pathlib import Path

def breakdown(runs: Path) -> dict:
    "Worker seconds per family, each training run counted once: in all (its last record's `seconds`), and training (its `train_wall_s`)."
    import time
    from icl_study.config import RunConfig
    from icl_study.evaluate import group_key   # the seeds of a cell train together (stacked) under one key
    runs_, cells, kinds = {}, defaultdict(int), defaultdict(float)  # one training run -> [family, its seconds, training seconds, task-kind sweep?]
    for f in sorted((runs / 'cells').glob('*.json')):
        r = json.loads(f.read_text())
        fam = r.get('config', {}).get('model', {}).get('attention', '?')
        task = r.get('config', {}).get('task', {})
        cells[fam] += 1
        tr = next((row['value'] for row in r.get('rows') or [] if row.get('metric') == 'train_wall_s'), None)
        s = r.get('seconds') or 0.
        # stacked seeds share one training and so one `train_wall_s` (the same float); a run without training by its start
        start = round(time.mktime(time.strptime(r['finished'], '%Y-%m-%dT%H:%M:%S')) - s) if r.get('finished') else 0
        key = (group_key(RunConfig(**r["config"])), tr if tr is not None else start)
        new = task.get('function', 'linear') != 'linear' or task.get('pool') is not None   # the functions and diversity sweeps
        g = runs_.setdefault(key, [fam, 0., tr or 0., new])
        g[1] = max(g[1], s)   # a record's seconds run from its group's start to its own end: the last one is the run's
    total, train = defaultdict(float), defaultdict(float)
    for fam, s, tr, new in runs_.values():
        total[fam] += s; train[fam] += tr
        kinds['task kinds' if new else 'linear regression'] += s
    return dict(cells=dict(cells), total=dict(total), train=dict(train), groups=len(runs_), kinds=dict(kinds))

def log_phases(log: Path) -> dict:
    "Wall seconds of the cell phase (last progress line) and of the whole command (`time`'s real)."
    text = log.read_text()
    cells = [float(s) for s in re.findall(r'cells: \d+/\d+ cells[^\n]*?, (\d+)s', text)]
    real = re.search(r'real\s+(\d+)m([\d.]+)s', text)
    return dict(cells_s=cells[-1] if cells else None, real_s=int(real.group(1)) * 60 + float(real.group(2)) if real else None)

if __name__ == '__main__':
    runs = Path(sys.argv[1] if len(sys.argv) > 1 else 'runs/quick')
    b = breakdown(runs)
    tot, tr = sum(b['total'].values()), sum(b['train'].values())
    print(f"{sum(b['cells'].values())} cell records in {b['groups']} training runs; worker seconds {tot:.0f}: training {tr:.0f} ({tr / max(tot, 1):.0%}), "
          f"evaluation and the rest {tot - tr:.0f}")
    for fam in sorted(b['total'], key=lambda f: -b['total'][f]):
        print(f"  {fam:15s} cells {b['cells'][fam]:4d}  worker s {b['total'][fam]:7.0f}  training s {b['train'].get(fam, 0):7.0f}")
    k = b['kinds']
    print("worker seconds by task: " + ', '.join(f"{n} {v:.0f} ({v / max(tot, 1):.0%})" for n, v in sorted(k.items()))
          + " (task kinds: the functions and diversity sweeps' own groups; their shared linear cells count as linear regression)")
    if len(sys.argv) > 2:
        p = log_phases(Path(sys.argv[2]))
        if p['cells_s'] and p['real_s']:
            print(f"wall: {p['real_s']:.0f} s in all; cell phase {p['cells_s']:.0f} s; setup, rendering, costs {p['real_s'] - p['cells_s']:.0f} s")
            share = k.get('task kinds', 0) / max(tot, 1)
            print(f"the task-kind sweeps' share of the cell phase, by worker seconds: about {share * p['cells_s']:.0f} s of wall")
