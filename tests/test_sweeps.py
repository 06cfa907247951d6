"Sweeps and runs: the cell cache survives kill -9, failures are recorded, only changed cells recompute, Ray equals local."
import importlib.util, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time
from pathlib import Path
import pandas as pd
import pytest
from icl_study.config import ConfigError
from icl_study.sweeps import PROFILES, families, sweep_cells, toy_runner
from icl_study.runs import cell_path, run_sweep

PY = sys.executable
SWEEP = 'context'  # smoke: every family × 2 context lengths


def _env(tmp: Path, **extra) -> dict:
    "The environment for a child process, with HOME and tool caches inside `tmp`."
    (tmp/'home').mkdir(parents=True, exist_ok=True)
    return dict(os.environ, HOME=str(tmp/'home'), XDG_CACHE_HOME=str(tmp/'home'/'.cache'),
                MPLCONFIGDIR=str(tmp/'home'/'mpl'), PYTHONDONTWRITEBYTECODE='1', **extra)


def _run(out, runner=toy_runner, profile='smoke', sweep=SWEEP, **kw):
    return run_sweep(sweep, profile, out=out, runner=runner, progress=False, **kw)


# (a) kill -9 mid-sweep, then resume --------------------------------------------------------------------------------
SLOW = """
import sys, time
from icl_study.sweeps import toy_runner
from icl_study.runs import run_sweep
def slow(cfg):
    time.sleep(0.3)
    return toy_runner(cfg)
run_sweep(sys.argv[1], 'smoke', out=sys.argv[2], runner=slow, progress=False)
"""

def test_kill_and_resume(tmp_path):
    n = len(sweep_cells(SWEEP, 'smoke'))
    script, out = tmp_path/'slow.py', tmp_path/'killed'
    script.write_text(SLOW)
    proc = subprocess.Popen([PY, str(script), SWEEP, str(out)], env=_env(tmp_path))
    cells, reads = out/'cells', 0
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # read every record as it appears: none may ever be half-written
            done = sorted(cells.glob('*.json')) if cells.exists() else []
            for f in done: json.loads(f.read_text()); reads += 1
            if len(done) >= max(1, n // 2): break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL); proc.wait()
    finished = {f.stem for f in cells.glob('*.json')}
    assert 0 < len(finished) < n and reads > 0
    assert not (out/SWEEP/'results.csv').exists()
    stray = cells/f'.{sorted(finished)[0]}.json.{proc.pid}.0badc0de.tmp'  # what a writer killed mid-write leaves
    stray.write_text('{"key": "trunc')

    df = _run(out)
    assert df.attrs['summary'] == dict(cells=n, cached=len(finished), computed=n - len(finished), failed=0, diverged=0)
    assert not stray.exists() and not list(cells.glob('.*.tmp'))
    ref = _run(tmp_path/'uninterrupted')
    pd.testing.assert_frame_equal(df, ref)
    assert (out/SWEEP/'results.csv').read_text() == (tmp_path/'uninterrupted'/SWEEP/'results.csv').read_text()


# (b) a failing cell is recorded and the rest go on -------------------------------------------------------------------
def test_failing_cell_recorded_and_sweep_goes_on(tmp_path):
    cells = sweep_cells(SWEEP, 'smoke')
    bad = cells[-1]
    def runner(cfg):
        if cfg == bad.cfg: raise RuntimeError('boom')
        return toy_runner(cfg)
    df = _run(tmp_path, runner)
    assert df.attrs['summary'] == dict(cells=len(cells), cached=0, computed=len(cells), failed=1, diverged=0)
    failed = df[df.status == 'failed']
    assert len(failed) == 1 and failed.error.item() == 'RuntimeError: boom' and failed.cell.item() == bad.key
    assert failed['model.attention'].item() == bad.family and failed['task.n_points'].item() == bad.cfg.task.n_points
    assert failed.value.isna().all()
    assert set(df[df.status != 'failed'].cell) == {c.key for c in cells[:-1]}  # every other cell has its rows
    rec = json.loads(cell_path(tmp_path, bad.key).read_text())
    assert rec['status'] == 'failed' and 'Traceback' in rec['traceback'] and 'boom' in rec['traceback']
    # kept as failed when retries are off, computed again (and only it) by default
    assert _run(tmp_path, runner, retry_failed=False).attrs['summary']['computed'] == 0
    s = _run(tmp_path).attrs['summary']
    assert (s['computed'], s['failed']) == (1, 0)


def test_diverged_cell_is_a_result(tmp_path):
    def runner(cfg):
        df = toy_runner(cfg)
        if cfg.task.n_points == 6: df['status'] = 'diverged'
        return df
    s = _run(tmp_path, runner).attrs['summary']
    assert s['diverged'] == len(families()) and s['failed'] == 0
    df = _run(tmp_path, runner)
    assert df.attrs['summary']['computed'] == 0 and set(df.status) == {'ok', 'diverged'}


# (c) nothing recomputes twice; a changed field recomputes only what it touches ----------------------------------------
def test_cache_recomputes_only_what_changed(tmp_path):
    first = _run(tmp_path)
    n = first.attrs['summary']['cells']
    again = _run(tmp_path)
    assert again.attrs['summary'] == dict(cells=n, cached=n, computed=0, failed=0, diverged=0)
    pd.testing.assert_frame_equal(first, again)
    # a field outside the cache key (the device) recomputes nothing
    assert _run(tmp_path, overrides={'train.device': 'cpu'}).attrs['summary']['computed'] == 0
    # one more grid value: only its cells
    p = dict(PROFILES['smoke'], grids={**PROFILES['smoke']['grids'], 'context': (3, 6, 8)})
    assert _run(tmp_path, profile=p).attrs['summary']['computed'] == len(families())
    # one family's option: only that family's cells
    if 'gqa' in families():
        p = dict(PROFILES['smoke'], families={**PROFILES['smoke']['families'], 'gqa': {'kv_heads': 2}})
        df = _run(tmp_path, profile=p)
        assert df.attrs['summary']['computed'] == 2
        changed = set(df.cell) - set(first.cell)
        assert set(df[df.cell.isin(changed)]['model.attention']) == {'gqa'}
    # a field every cell has: every cell
    assert _run(tmp_path, overrides={'eval.n_tasks': 16}).attrs['summary']['computed'] == n


def test_bad_names_list_allowed(tmp_path):
    with pytest.raises(ConfigError, match='sweep: must be one of steps, layers, context, context_untrained, rank'): _run(tmp_path, sweep='widths')
    with pytest.raises(ConfigError, match='profile: must be one of paper, quick, smoke'): _run(tmp_path, profile='full')
    with pytest.raises(ConfigError, match='executor: must be one of local, ray'): _run(tmp_path, executor='dask')


# (d) a real Ray cluster on 127.0.0.1 gives the local executor's results ----------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _group_alive(pgid: int) -> bool:
    try: os.killpg(pgid, 0)
    except ProcessLookupError: return False
    return True

def _stop_group(pgid: int, grace: float = 2.0):
    "Stop the processes of one Ray cluster (they share the process group of the `ray start` that made them)."
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try: os.killpg(pgid, sig)
        except ProcessLookupError: return
        t = time.time()
        while time.time() - t < grace and _group_alive(pgid): time.sleep(0.1)

def _group_connections(pgid: int) -> list[str]:
    "Local and peer addresses of every TCP socket (listening or connected) of the processes in group `pgid`."
    ps = subprocess.run(['ps', '-eo', 'pid=,pgid='], capture_output=True, text=True).stdout.split()
    pids = {pid for pid, g in zip(ps[::2], ps[1::2]) if g == str(pgid)}
    lines = subprocess.run(['ss', '-tanpH'], capture_output=True, text=True).stdout.splitlines()
    return [l for l in lines if set(re.findall(r'pid=(\d+)', l)) & pids]

LOOPBACK = re.compile(r'^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):(\d+|\*)$')

@pytest.fixture
def ray_cluster(tmp_path):
    "A Ray head bound to 127.0.0.1 on a free port, with its temp dir in a (short) temporary folder; stopped after."
    tmp = Path(tempfile.mkdtemp(prefix='icl-ray-', dir='/tmp'))  # Ray's socket paths must stay short
    env = _env(tmp, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER='0', RAY_AUTH_MODE='disabled', RAY_TMPDIR=str(tmp), TMPDIR=str(tmp))
    port = _free_port()
    start = subprocess.Popen([str(Path(PY).parent/'ray'), 'start', '--head', '--node-ip-address=127.0.0.1', f'--port={port}',
                              '--num-cpus=2', '--include-dashboard=false', '--disable-usage-stats', f'--temp-dir={tmp}/ray'],
                             env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log, _ = start.communicate(timeout=90)
        assert start.returncode == 0, log
        yield f'127.0.0.1:{port}', env, start.pid
    finally:
        _stop_group(start.pid)
        shutil.rmtree(tmp, ignore_errors=True)

def _real_runner_exists() -> bool:
    try: return importlib.util.find_spec('icl_study.evaluate') is not None
    except ImportError: return False

DRIVER = """
import json, sys
from icl_study.sweeps import toy_runner
from icl_study.runs import run_sweep
runner = toy_runner if sys.argv[3] == 'toy' else None
df = run_sweep(sys.argv[1], 'smoke', executor='ray', address=sys.argv[2], out=sys.argv[4], runner=runner, progress=False)
print('SUMMARY', json.dumps(df.attrs['summary']))
"""

def test_ray_cluster_matches_local(tmp_path, ray_cluster):
    address, env, pgid = ray_cluster
    real = _real_runner_exists()  # the study's run_cell once `06_evaluate` exists; the stand-in until then
    sweep = 'context_untrained'
    (tmp_path/'driver.py').write_text(DRIVER)
    r = subprocess.run([PY, str(tmp_path/'driver.py'), sweep, address, 'real' if real else 'toy', str(tmp_path/'ray')],
                       env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(sweep_cells(sweep, 'smoke'))
    summary = json.loads(r.stdout.split('SUMMARY', 1)[1])
    assert summary == dict(cells=n, cached=0, computed=n, failed=0, diverged=summary['diverged'])
    # every socket of the cluster's processes, listening or connected, is on the loopback interface
    if shutil.which('ss'):
        conns = _group_connections(pgid)
        assert conns, "no sockets found for the cluster's processes"
        for line in conns:
            local, peer = line.split()[3:5]
            assert LOOPBACK.match(local) and (LOOPBACK.match(peer) or peer in ('*:*', '0.0.0.0:*')), line
    ray_df = pd.read_csv(tmp_path/'ray'/sweep/'results.csv')
    local_df = run_sweep(sweep, 'smoke', out=tmp_path/'local', runner=None if real else toy_runner, progress=False)
    pd.testing.assert_frame_equal(ray_df, local_df, check_exact=not real, rtol=1e-4)


# (e) a worker process that dies is replaced: the groups it had not finished run again --------------------------------
def die_once(cfg):
    "The toy runner, except that the first gqa cell kills its worker process (as the out-of-memory killer would)."
    marker = Path(os.environ['ICL_DIE_ONCE'])
    if cfg.model.attention == 'gqa' and not marker.exists():
        marker.touch(); os._exit(1)
    return toy_runner(cfg)

def test_dead_worker_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv('ICL_DIE_ONCE', str(tmp_path / 'died'))
    df = run_sweep(SWEEP, 'smoke', out=tmp_path / 'runs', runner=die_once, workers=2, progress=False)
    assert (tmp_path / 'died').exists()                                     # a worker did die
    assert df.attrs['summary']['failed'] == 0 and set(df.status) == {'ok'}  # and every cell still has its rows
