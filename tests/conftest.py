"Shared test settings: one torch thread, and tool caches kept out of $HOME."
import os, tempfile
import pytest, torch

# Tools write caches into $HOME and the temp folder (matplotlib, IPython, Jupyter): keep them in one temporary folder.
_CACHE = tempfile.mkdtemp(prefix='icl-study-tests-')
for var, sub in (('MPLCONFIGDIR', 'mpl'), ('IPYTHONDIR', 'ipython'), ('JUPYTER_RUNTIME_DIR', 'jupyter-runtime')):
    os.environ.setdefault(var, os.path.join(_CACHE, sub))
os.environ.setdefault('MPLBACKEND', 'Agg')

@pytest.fixture(autouse=True, scope='session')
def one_thread():
    "The tests' tensors are small and the machine is shared: one thread is faster and steadier (restored afterwards)."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
