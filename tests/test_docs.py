"README is generated from the front page; the docs site has a page per notebook, nbdev's show_doc tables, working links and search."
import importlib, inspect, json, re
from pathlib import Path
import pytest
from icl_study.docs import readme_text, project_root
from icl_study.site import MATHJAX_CONFIG, build_site, chapters

def test_readme_matches_index():
    "README.md is exactly nbs/index.ipynb as markdown (regenerate with `make readme`)."
    assert (project_root() / 'README.md').read_text() == readme_text(), "README.md is stale: run `make readme`"

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    "Every page, built without running the notebooks (show_doc needs only the package)."
    out = tmp_path_factory.mktemp('site')
    return out, build_site(out, execute=False)

def test_site_pages_and_links(site):
    "Every chapter notebook has a page, and every local link between pages (and to an anchor) resolves."
    out, pages = site
    assert sorted(p.stem for p in pages) == sorted(p.stem for p in chapters())
    ids = {p.name: set(re.findall(r'\bid="([^"]+)"', p.read_text())) for p in pages}
    for page in pages:
        text = page.read_text()
        assert 'site.css' in text and 'search_index.js' in text and 'mathjax' in text.lower()
        for href in re.findall(r'<a\s[^>]*?href="([^"]*)"', text):
            if not href or re.match(r'^(https?:|mailto:|data:|//)', href): continue
            path, _, anchor = href.partition('#')
            target = page.parent / path if path else page
            assert target.exists(), f"{page.name} links to missing {href}"
            if anchor and target.name in ids: assert anchor in ids[target.name], f"{page.name} links to missing anchor {href}"

def test_site_scripts_are_local(site):
    "Pages load only files of the site folder (MathJax included: no CDN), and the MathJax files they name are there."
    out, pages = site
    for page in pages:
        text = page.read_text()
        srcs = re.findall(r'<script\b[^>]*\bsrc="([^"]*)"', text) + re.findall(r'<link\b[^>]*\bhref="([^"]*)"', text)
        assert f'mathjax/MathJax.js?config={MATHJAX_CONFIG}' in srcs, page.name
        for s in srcs:
            assert not re.match(r'^([a-z]+:|//)', s), f"{page.name} loads {s} from outside the site"
            assert (out / s.split('?')[0]).is_file(), f"{page.name} loads missing {s}"
    mj = out / 'mathjax'
    assert (mj / 'MathJax.js').is_file() and (mj / 'config' / f'{MATHJAX_CONFIG}.js').is_file()
    assert (mj / 'jax/output/HTML-CSS/fonts/STIX-Web/fontdata.js').is_file() and any((mj / 'fonts').rglob('*.woff'))

def test_no_directive_or_prompt_leaks(site):
    "No `#|` directive is shown (prose and string literals may quote one), no hidden cell, and no `In [n]:` prompt."
    for page in site[1]:
        text = page.read_text()
        shown = re.sub(r'<code>[^<]*</code>|<span class="s\w*">[^<]*</span>', '', text)   # prose and string literals may quote one
        assert '#|' not in shown, f"a directive shows on {page.name}"
        assert not re.search(r'In\s*(&nbsp;)?\[\d*\]:', text), page.name
        assert 'from fastcore.test import' not in text, f"a #| hide cell shows on {page.name}"
        assert '<h1>' in text and '---\n' not in text                      # the front matter became the title

def _exported(mod) -> list:
    "The functions and classes a module exports (what nbdev's add_show_docs documents)."
    return [n for n in mod.__all__ if (inspect.isfunction(o := getattr(mod, n)) or inspect.isclass(o)) and o.__module__ == mod.__name__]

def _takes_params(o) -> bool:
    try: ps = [p for p in inspect.signature(o).parameters if p not in ('self', 'args', 'kwargs')]
    except (TypeError, ValueError): return False
    return bool(ps)

def test_show_doc_for_every_exported_symbol(site):
    "Every exported function and class has its show_doc block (signature); those with parameters have the docments table."
    out, pages = site
    n = 0
    for nb in chapters():
        m = re.search(r'#\|\s*default_exp\s+([\w.]+)', nb.read_text())
        if not m: continue
        mod, text = importlib.import_module(f'icl_study.{m.group(1)}'), (out / f'{nb.stem}.html').read_text()
        blocks = dict(re.findall(r'<h3 class="sym" id="([^"]+)">.*?</h3>(.*?)</div>\s*</div>', text, re.S))
        for name in _exported(mod):
            assert name in blocks, f"{nb.stem}: no show_doc for {name}"
            assert '<blockquote>' in blocks[name], f"{nb.stem}: {name} has no signature"
            if _takes_params(getattr(mod, name)): assert '<table>' in blocks[name], f"{nb.stem}: {name} has no docments table"; n += 1
    assert n > 50

def test_search_index(site):
    "The search index has entries for every page and finds a symbol's section."
    out, pages = site
    idx = json.loads((out / 'search_index.js').read_text().removeprefix('window.ICL_INDEX = ').rstrip().rstrip(';'))
    assert {e['u'].split('#')[0] for e in idx} == {p.name for p in pages}
    assert any(e['u'] == '04_baselines.html#least_squares' and 'least' in e['x'] for e in idx)
    assert (out / 'search.js').read_text().count('ICL_INDEX') == 1

def test_executed_pages_show_outputs(tmp_path):
    "With execution, a page shows its cells' outputs (printed lines, test results) without prompts."
    page, = build_site(tmp_path, only=['00a_progress'])
    text = page.read_text()
    assert '<pre class="out stream">softmax L=8: 300/3000 steps (10%)' in text

def test_front_page_tables_match_reports():
    "The front page's result tables are what the committed quick reports say (refresh with `make readme`)."
    import nbformat
    from icl_study.docs import front_page_source
    old, new = front_page_source()
    assert '<!-- table:claims -->' in old and '<!-- table:results -->' in old
    assert nbformat.reads(old, as_version=4) == nbformat.reads(new, as_version=4), "front page tables are stale: run `make readme`"
