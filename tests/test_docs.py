"README is generated from the front page; the docs site has a page per notebook and its links resolve."
import re
from pathlib import Path
from icl_study.docs import readme_text, build_site, chapters, project_root

def test_readme_matches_index():
    "README.md is exactly nbs/index.ipynb as markdown (regenerate with `make readme`)."
    assert (project_root() / 'README.md').read_text() == readme_text(), "README.md is stale: run `make readme`"

def test_site_pages_and_links(tmp_path):
    "Every chapter notebook has a page, and every local link between pages resolves."
    pages = build_site(tmp_path, execute=False)
    assert sorted(p.stem for p in pages) == sorted(p.stem for p in chapters())
    for page in pages:
        for href in re.findall(r'<a\s[^>]*?href="([^"#]*)[^"]*"', page.read_text()):
            if not href or re.match(r'^(https?:|mailto:|data:|//)', href): continue
            assert (page.parent / href).exists(), f"{page.name} links to missing {href}"
