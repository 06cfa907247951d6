"The breakdown behind `08_sweeps`' timing figures counts each training run once, on hand-made cell records."
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from bench_report import breakdown, log_phases
from icl_study.config import RunConfig, TaskConfig, ModelConfig, to_dict

def _write(folder: Path, name: str, cfg: RunConfig, seconds: float, train_s, finished: str):
    rows = [] if train_s is None else [dict(step=None, predictor='model', metric='train_wall_s', value=train_s)]
    rec = dict(key=name, config=to_dict(cfg), status='ok', rows=rows, seconds=seconds, finished=finished)
    (folder / f'{name}.json').write_text(json.dumps(rec))

def test_breakdown_counts_each_training_run_once(tmp_path):
    (tmp_path / 'cells').mkdir()
    cell = lambda fam, seed, n: RunConfig(task=TaskConfig(d=2, n_points=n), model=ModelConfig(attention=fam), seed=seed)
    for s in range(3):  # three stacked seeds: one training (one train_wall_s), the records' seconds count from the group's start
        _write(tmp_path / 'cells', f'a{s}', cell('softmax', s, 5), 10. + s, 9.5, '2026-12-04T22:00:12')
    for s, (sec, tr) in enumerate([(5.5, 5.0), (5.6, 5.1)]):  # two seeds trained one after the other, finished in one minute
        _write(tmp_path / 'cells', f'b{s}', cell('linear', s, 5), sec, tr, f'2026-12-04T22:01:{10 + 6 * s:02d}')
    _write(tmp_path / 'cells', 'c0', cell('linear', 0, 6), 1.0, None, '2026-12-04T22:02:00')  # untrained (0 steps)
    b = breakdown(tmp_path)
    assert b['groups'] == 4 and b['cells'] == {'softmax': 3, 'linear': 3}
    assert b['total'] == {'softmax': 12., 'linear': 5.5 + 5.6 + 1.0} and b['train'] == {'softmax': 9.5, 'linear': 5.0 + 5.1}
    assert b['kinds'] == {'linear regression': 12. + 12.1}

def test_log_phases(tmp_path):
    log = tmp_path / 'r.log'
    log.write_text("cells: 10/20 cells (50%), 0.2 cells/s, 50s\rcells: 20/20 cells (100%), 0.2 cells/s, 101s\n\nreal\t2m3.5s\n")  # the progress line's form
    assert log_phases(log) == dict(cells_s=101., real_s=123.5)
