"Render smoke reports end to end: papermill runs the templates (real `run_cells`), nbconvert writes the pages."
import re
import nbformat
from html.parser import HTMLParser
from pathlib import Path
import pytest
from icl_study.analysis.render import render_all, render_report, ReportError
from icl_study.sweeps import sweep_cells
from icl_study.runs import write_cell, failed_record

SWEEPS = ('steps', 'context', 'heads', 'length')  # a one-run sweep, the cost figure's sweep, and two with sections of their own

@pytest.fixture(scope='module')
def rendered(tmp_path_factory):
    "Render four smoke sweeps, the claims and the index once (two reports at a time); one context cell is a failure already in the cache."
    tmp = tmp_path_factory.mktemp('reports')
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (('MPLCONFIGDIR', 'mpl'), ('IPYTHONDIR', 'ipython'), ('JUPYTER_RUNTIME_DIR', 'jupyter'),
                         ('JUPYTER_DATA_DIR', 'jupyter-data'), ('XDG_CACHE_HOME', 'cache')):
            (tmp / 'cache' / sub).mkdir(parents=True)
            mp.setenv(var, str(tmp / 'cache' / sub))
        cell = next(c for c in sweep_cells('context', 'smoke') if c.family == 'gated' and c.cfg.task.n_points == 6)
        write_cell(tmp / 'runs' / 'smoke', failed_record(cell, RuntimeError('boom: made-up failure')))
        pages = render_all('smoke', out_dir=tmp / 'reports', runs_dir=tmp / 'runs' / 'smoke', sweeps=SWEEPS, workers=2,
                           cost_kw=dict(repeats=1, batch=4), retry_failed=False, progress=False)
        assert [p.name for p in pages] == [f'{s}.html' for s in SWEEPS] + ['claims.html', 'index.html']
        yield tmp, pages[-1]

def _links(page: str) -> list[str]:
    class P(HTMLParser):
        links = []
        def handle_starttag(self, tag, attrs): self.links += [v for k, v in attrs if tag == 'a' and k == 'href']
    p = P(); p.feed(page)
    return p.links

def _pngs(page: str) -> list[str]:
    return re.findall(r'<img[^>]*src="data:image/png;base64,', page)

def test_report_files(rendered):
    tmp, _ = rendered
    for s in SWEEPS:
        for ext in ('ipynb', 'html', 'csv'): assert (tmp / 'reports' / 'smoke' / f'{s}.{ext}').stat().st_size > 0
        page = (tmp / 'reports' / 'smoke' / f'{s}.html').read_text()
        if s == 'length':                                                   # scored off its trained length: no alignment axis
            assert len(_pngs(page)) >= 1 and 'alignment is measured at the trained length only' in page
        else: assert len(_pngs(page)) >= 2, 'the nMSE and alignment figures are embedded'
        assert '<table' in page and 'one-step GD (scalar step) (baseline)' in page and 'softmax' in page
        assert not re.search(r'<script[^>]*src="https?://', page) and 'Traceback' not in page  # nothing to fetch
    assert not list((tmp / 'reports' / 'smoke').glob('.*.running.ipynb'))

def test_failed_cell_is_listed(rendered):
    tmp, _ = rendered
    page = (tmp / 'reports' / 'smoke' / 'context.html').read_text()
    assert 'boom: made-up failure' in page and '1 failed' in page

def test_index(rendered):
    tmp, index = rendered
    page = index.read_text()
    links = _links(page)
    assert {f'{s}.{e}' for s in (*SWEEPS, 'claims') for e in ('html', 'ipynb', 'csv')} <= set(links)
    for href in links: assert (index.parent / href).exists(), href
    assert len(_pngs(page)) == 1 and '<table' in page                    # the cost figure, from the trained models
    assert (index.parent / 'model_cost.csv').exists()
    assert 'Claims of the study documents' in page and 'inconclusive' in page

def test_sections_and_claims(rendered):
    "The heads report shows the weight patterns; the length report says who could not run; the scorecard judges every claim."
    import pandas as pd
    from icl_study.analysis.claims import CLAIMS
    tmp, _ = rendered
    heads = (tmp / 'reports' / 'smoke' / 'heads.html').read_text()
    assert 'Weight patterns' in heads and 'kq_diag' in heads and len(_pngs(heads)) >= 3
    length = (tmp / 'reports' / 'smoke' / 'length.html').read_text()
    assert 'longer than model.max_len' in length                          # lowrank without blocks is recorded, not dropped
    sc = pd.read_csv(tmp / 'reports' / 'smoke' / 'claims.csv')
    assert set(sc.id) == set(CLAIMS) and set(sc.verdict) == {'inconclusive'}   # smoke: too small to judge
    assert 'not measured' in set(sc.our_figure)                            # the sweeps this test did not run
    claims = (tmp / 'reports' / 'smoke' / 'claims.html').read_text()
    assert 'The evidence, claim by claim' in claims and 'Traceback' not in claims

def test_failing_template(rendered, tmp_path):
    "A template that raises: ReportError names the error, the partial notebook stays, the last good report is kept."
    tmp, _ = rendered
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("sweep = 'steps'", metadata={'tags': ['parameters']}),
                                         nbformat.v4.new_code_cell("raise ValueError('template broke')")])
    bad = tmp_path / 'bad.ipynb'
    nbformat.write(nb, bad)
    good = (tmp / 'reports' / 'smoke' / 'steps.html').read_text()
    with pytest.raises(ReportError, match='template broke'):
        render_report('steps', 'smoke', out_dir=tmp / 'reports', runs_dir=tmp / 'runs' / 'smoke', template=bad)
    failed = tmp / 'reports' / 'smoke' / 'steps.failed.ipynb'
    assert failed.exists() and 'template broke' in failed.read_text()
    assert (tmp / 'reports' / 'smoke' / 'steps.html').read_text() == good

def test_finished_only(rendered):
    "A profile in progress: only the finished sweeps are rendered and judged, nothing is trained, the index names the rest."
    import pandas as pd
    from icl_study.runs import sweep_progress
    tmp, _ = rendered
    runs = tmp / 'runs' / 'smoke'
    have, total = sweep_progress('smoke', runs, 'layers')['layers']
    assert have < total
    cells = {p.name: p.read_bytes() for p in (runs / 'cells').iterdir()}
    pages = render_all('smoke', out_dir=tmp / 'partial', runs_dir=runs, sweeps=('context', 'layers'), finished_only=True,
                       cost_kw=dict(repeats=1, batch=4), progress=False)
    assert [p.name for p in pages] == ['context.html', 'claims.html', 'index.html']
    assert {p.name: p.read_bytes() for p in (runs / 'cells').iterdir()} == cells   # nothing trained, the failed cell not retried
    assert 'boom: made-up failure' in pages[0].read_text()
    page = pages[-1].read_text()
    assert f'Still computing, not shown: layers ({have} of {total} cells)' in page and 'href="context.html"' in page
    sc = pd.read_csv(tmp / 'partial' / 'smoke' / 'claims.csv').set_index('id')
    assert sc.loc['multihead-beats-single', 'our_figure'] == 'not measured'      # heads has results, but was not rendered

def test_kind_reports(tmp_path):
    "The functions and diversity sweeps render through `_kinds.ipynb`: their figures, the learners' table and M* per family."
    for s, marks in (('functions', ('Error per task kind', 'best learner', 'consistent subsets')),
                     ('diversity', ('pretraining tasks', 'M* per family', 'dMMSE'))):
        r = render_report(s, 'smoke', out_dir=tmp_path / 'reports', runs_dir=tmp_path / 'runs')
        page = r.html.read_text()
        assert len(_pngs(page)) >= 1, s
        for m in marks: assert m in page, (s, m)
        assert 'Traceback' not in page and 'ename' not in r.ipynb.read_text(), s
