"`make gpu-check DEVICE=cpu` (the GPU check's tiny mode) works on a Python that cannot import the notebook tools, Ray or fastcore."
import json, os, subprocess, sys
from pathlib import Path
from icl_study.gpucheck import MISSING_ON_GPU, paper_workload

ROOT = Path(__file__).resolve().parent.parent

def test_gpu_check_tiny_mode_without_notebook_tools(tmp_path):
    "Every stage runs and records its figures; the estimate is made; nothing imports what the GPU machine lacks."
    site = tmp_path / 'site'; site.mkdir()
    # a sitecustomize that makes the missing packages unimportable in this process and every child it starts
    (site / 'sitecustomize.py').write_text(f"import sys\nfor m in {MISSING_ON_GPU!r}: sys.modules[m] = None\n")
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(site), str(ROOT)]), 'GPU_CHECK_DIR': str(tmp_path / 'out'),
           'TORCHINDUCTOR_CACHE_DIR': os.environ.get('TORCHINDUCTOR_CACHE_DIR', str(ROOT / '.cache' / 'inductor'))}
    p = subprocess.run([sys.executable, '-m', 'icl_study.gpucheck', '--device', 'cpu'], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    res = json.loads((tmp_path / 'out' / 'gpu-check.json').read_text())
    assert res['mode'] == 'tiny'
    assert {k: v['status'] for k, v in res['stages'].items()} == {'tests': 'ok', 'speed': 'ok', 'sweep': 'ok'}, res['stages']
    t, s, w = (res['stages'][k] for k in ('tests', 'speed', 'sweep'))
    assert t['pytest']['returncode'] == 0 and t['pytest']['tests'] > 0 and t['pytest']['skipped'] == t['pytest']['tests']
    assert [e['ok'] for e in t['equivalence']] == [True]
    assert s['gpt2']['ratio'] > 0
    assert {r['family'] for r in s['rates'] if r['kind'] == 'eager' and r['steps_per_s']} >= {'softmax', 'gated', 'lowrank'}
    assert w['ok'] and len(w['cells']) >= 6, w
    assert res['estimate']['hours'] > 0 and res['estimate']['cells'] == len(paper_workload())
    assert 'estimate, paper profile x 3 seeds' in p.stdout

def test_gpu_check_without_a_gpu_stops_at_once(tmp_path):
    "`make gpu-check` (CUDA) on a machine without a GPU says so in one line instead of running the stages."
    import pytest, torch
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    p = subprocess.run([sys.executable, '-m', 'icl_study.gpucheck', '--device', 'cuda', '--out', str(tmp_path / 'out')],
                       env={**os.environ, 'PYTHONPATH': str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and 'no CUDA device here' in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / 'out').exists()
