"The house stays layered: imports between the package's modules run one way, down the layers of dev/AUTHORING.md."
import ast, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / 'icl_study'
MAX_LINES = 400  # no exported module over this (`_modidx.py` aside)

def module_name(path: Path) -> str:
    "'icl_study.analysis.claims' for icl_study/analysis/claims.py ('icl_study.analysis' for its __init__.py)."
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)

def modules() -> dict:
    "Module name -> path of every module of the package except the generated index."
    return {module_name(p): p for p in sorted(PKG.rglob('*.py')) if p.name != '_modidx.py' and '__pycache__' not in p.parts}

def _resolve(node: ast.ImportFrom, here: str, is_pkg: bool) -> str:
    "The absolute module an `ImportFrom` names."
    if not node.level: return node.module or ''
    base = here.split('.') if is_pkg else here.split('.')[:-1]
    base = base[:len(base) - (node.level - 1)]
    return '.'.join(base + ([node.module] if node.module else []))

def imports(path: Path, names: set) -> set:
    "The package modules `path` imports anywhere in its code (top level or inside functions)."
    here, is_pkg = module_name(path), path.name == '__init__.py'
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(node, here, is_pkg)
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in names else mod for a in node.names]  # `from . import x`
        else: continue
        for t in targets:
            while t and t not in names: t = t.rpartition('.')[0]   # `icl_study.attention.core.X` -> its module
            if t and t != here: out.add(t)
    return out

def graph() -> dict:
    "Module -> the package modules it imports."
    mods = modules()
    return {m: imports(p, set(mods)) for m, p in mods.items()}

def layers(text: str|None = None) -> dict:
    "Module -> layer number (0 = bottom), from the `layers` block of dev/AUTHORING.md (top layer first)."
    text = (ROOT / 'dev' / 'AUTHORING.md').read_text() if text is None else text
    block = re.search(r'```layers\n(.*?)```', text, re.S)
    assert block, "dev/AUTHORING.md has no ```layers block"
    rows = [l.split('#')[0].strip() for l in block.group(1).splitlines()]
    rows = [r for r in rows if r]
    out = {}
    for depth, row in enumerate(reversed(rows)):
        _, _, names = row.partition(':')
        for n in names.replace(',', ' ').split():
            out['icl_study' if n == 'icl_study' else f'icl_study.{n}'] = depth
    return out

def cycles(g: dict) -> list:
    "The strongly connected components of more than one module (import circles), by Tarjan's algorithm."
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in g.get(v, ()):
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    for v in sorted(g):
        if v not in index: visit(v)
    return out

def upward(g: dict, layer: dict) -> list:
    "Imports from a module to one in a higher layer: (importer, imported)."
    return sorted((a, b) for a, bs in g.items() for b in bs if layer[b] > layer[a])

def test_cycles_found():
    "The circle finder finds a circle, and none in a line."
    test = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert cycles(test) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []

def test_layers_parsed():
    "The layers block reads top layer first; `#` starts a comment."
    text = "x\n```layers\ntop: cli  # the command line\nbottom: config, progress\n```\n"
    assert layers(text) == {'icl_study.cli': 1, 'icl_study.config': 0, 'icl_study.progress': 0}
    assert upward({'icl_study.config': {'icl_study.cli'}, 'icl_study.cli': set()}, layers(text)) == [('icl_study.config', 'icl_study.cli')]

def test_imports_parsed(tmp_path):
    "Relative, absolute, in-function and `from . import x` imports all count."
    g = graph()
    assert 'icl_study.config' in g['icl_study.tasks']                       # from .config import ...
    assert 'icl_study.attention.core' in g['icl_study.attention.softmax']   # from .core import ...
    assert 'icl_study.runs' in g['icl_study.gpucheck']                      # inside a function

def test_no_import_circle():
    "No two modules of the package import each other, directly or around a circle."
    assert cycles(graph()) == [], "import circles among the package's modules"

def test_every_module_has_a_layer():
    "Each module is placed in the layers of dev/AUTHORING.md (a new module is added there)."
    missing = sorted(set(modules()) - set(layers()))
    assert not missing, f"add these modules to the layers block of dev/AUTHORING.md: {', '.join(missing)}"
    stale = sorted(set(layers()) - set(modules()))
    assert not stale, f"the layers block of dev/AUTHORING.md names modules that do not exist: {', '.join(stale)}"

def test_imports_run_down():
    "A module imports only from its own layer or those below it (dev/AUTHORING.md)."
    bad = upward(graph(), layers())
    assert not bad, "upward imports (importer -> imported): " + ', '.join(f"{a} -> {b}" for a, b in bad)

@pytest.mark.parametrize('name', sorted(modules()))
def test_module_size(name):
    "No exported module is over 400 lines: a long notebook splits where a second concept starts."
    n = len(modules()[name].read_text().splitlines())
    assert n <= MAX_LINES, f"{name} has {n} lines (at most {MAX_LINES}): split its notebook"
