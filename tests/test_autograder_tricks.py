"""Grades must be earned: notebooks that try to steal points from their own cells, graded in one batch.

Each trick sits in a notebook whose answers are wrong ("junk": right shapes, wrong values), so every
point it could get would be stolen; it must score 0 on every part. The tests do not run in the
student's kernel (autograder/runner.py), so the old in-process tricks (replacing the helpers, IPython
hooks, tracers) and the newer ones (nbgrader's output-based credit, a failing test that reports
success, reading the solutions or tests/variants from the checkout, the guard's copies through gc,
bytecode rewritten with ctypes, audit hooks, a torch.library kernel for aten::isclose, code swapped
and restored around a test, finalizers, the caller's frame, numpy-protocol fakes, Tensor subclasses
that spoof their class) find nothing to act on. The kernel's guard still flags some of them (a second
line; no point depends on it). A trick next to real work (Parts 1 and 3 right) keeps exactly those 3
points. The correct submission, the junk one and an honest notebook that uses hooks, plots, threads
and warnings the ordinary way, in the same batch, keep their marks with no flag.
"""
from __future__ import annotations

import copy
import csv

import nbformat
import pytest

from autograder import NOTEBOOKS, REPO, SOLUTIONS
from autograder.cells import release_imports
from autograder.grade import Options, grade
from conftest import require_sandbox

pytestmark = pytest.mark.slow

AID = "ch00"
FULL = 9.0
TRICK_AFTER = "imports"       # trick cells go right after the notebook's imports cell

JUNK = {   # wrong answers of the right shape: what a notebook with no real work hands in
    "pairwise_sq_dists": "def pairwise_sq_dists(X, Y):\n    return torch.zeros(X.shape[0], Y.shape[0])\n",
    "standardize_channels": "def standardize_channels(x, eps=1e-5):\n    return x.clone()\n",
    "to_channels_first": ("def to_channels_first(images):\n    B, H, W, C = images.shape\n"
                          "    return images.reshape(B, C, H, W)\n"),
    "batch_dependency": "def batch_dependency(model, x):\n    return torch.ones(x.shape[0], x.shape[0], dtype=torch.bool)\n",
}
PARTIAL_EARNS = 3.0          # Parts 1 (2 points) and 3 (1 point) right, Parts 2 and 4 junk

NOOP = "lambda *args, **kwargs: None"
TRICKS = {
    # name: (the trick's code, what its flag says (None: no flag expected, the trick is just inert))
    "replace_course_assert_close": (
        "import course_lib.testing as _t\n"
        f"_t.assert_close = _t.assert_shape = {NOOP}\n"
        "assert_close, assert_shape = _t.assert_close, _t.assert_shape\n",
        "replaced course_lib.testing.assert_close"),
    "replace_torch_testing": (
        f"torch.testing.assert_close = {NOOP}\n"
        "torch.equal = lambda *args, **kwargs: True\n"
        "torch.allclose = lambda *args, **kwargs: True\n",
        "replaced torch.testing.assert_close"),
    "replace_numpy_testing": (
        "import numpy as np, numpy.testing\n"
        f"np.testing.assert_allclose = np.testing.assert_array_equal = {NOOP}\n"
        "np.array_equal = lambda *args, **kwargs: True\n",
        "replaced numpy.testing.assert_allclose"),
    "rebind_helper_names": (
        f"def assert_close(*args, **kwargs):\n    pass\n\nassert_shape = {NOOP}\n",
        None),
    "edit_imports_cell": (None, None),
    "rewrite_helper_code": (
        "import course_lib.testing\n"
        f"course_lib.testing.assert_close.__code__ = ({NOOP}).__code__\n"
        f"course_lib.testing.assert_shape.__code__ = ({NOOP}).__code__\n",
        "rewrote the code of course_lib.testing.assert_close"),
    "input_transformer": (
        "def _no_asserts(lines):\n"
        "    return ['pass\\n'] if any('assert' in line for line in lines) else lines\n"
        "get_ipython().input_transformers_cleanup.append(_no_asserts)\n",
        "added an IPython input transformer (input_transformers_cleanup)"),
    "ast_transformer": (
        "import ast\n"
        "class _Pass(ast.NodeTransformer):\n"
        "    def visit_Assert(self, node):\n"
        "        return ast.Pass()\n"
        "    def visit_Expr(self, node):\n"
        "        call = node.value\n"
        "        if isinstance(call, ast.Call) and getattr(call.func, 'id', '').startswith('assert'):\n"
        "            return ast.Pass()\n"
        "        return node\n"
        "get_ipython().ast_transformers.append(_Pass())\n",
        "added an IPython AST transformer"),
    "pre_run_cell_hook": (
        "def _disarm(info):\n"
        f"    get_ipython().user_ns['assert_close'] = get_ipython().user_ns['assert_shape'] = {NOOP}\n"
        "get_ipython().events.register('pre_run_cell', _disarm)\n"
        "get_ipython().events.register('pre_execute', lambda: _disarm(None))\n",
        None),
    "post_run_cell_clears_output": (
        "from IPython.display import clear_output\n"
        "get_ipython().events.register('post_run_cell', lambda result: clear_output())\n",
        None),      # suspended during tests: the failures stay; the student's own cells keep the hook
    "custom_exception_handler": (
        "get_ipython().set_custom_exc((Exception,), lambda shell, etype, value, tb, tb_offset=None: None)\n",
        "set a custom exception handler (set_custom_exc)"),
    "silence_tracebacks": (
        "import sys\n"
        f"get_ipython().showtraceback = get_ipython()._showtraceback = {NOOP}\n"
        f"sys.excepthook = {NOOP}\n",
        "replaced showtraceback of the IPython shell"),
    "drop_error_messages": (
        "from jupyter_client.session import Session\n"
        "_send = Session.send\n"
        "def _quiet(self, stream, msg_or_type, *args, **kwargs):\n"
        "    if msg_or_type == 'error':\n"
        "        return None\n"
        "    return _send(self, stream, msg_or_type, *args, **kwargs)\n"
        "Session.send = _quiet\n",
        None),
    "kernel_do_execute": (
        "_kernel = get_ipython().kernel\n"
        "_real = _kernel.do_execute\n"
        "async def _do_execute(code, *args, **kwargs):\n"
        "    return await _real('pass' if 'assert' in code else code, *args, **kwargs)\n"
        "_kernel.do_execute = _do_execute\n",
        None),
    "builtins_exec": (
        "import builtins\n"
        f"builtins.exec = {NOOP}\n",
        "replaced builtins.exec"),
    "builtins_isinstance_and_errors": (
        "import builtins\n"
        "_isinstance = isinstance\n"
        "builtins.isinstance = lambda obj, cls: True if cls is torch.Tensor else _isinstance(obj, cls)\n"
        "builtins.AssertionError = type('AssertionError', (Warning,), {})\n",
        "replaced builtins.isinstance"),
    "sys_modules": (
        "import sys, types\n"
        "_fake = types.ModuleType('course_lib.testing')\n"
        f"_fake.assert_close = _fake.assert_shape = _fake.assert_own = {NOOP}\n"
        "sys.modules['course_lib.testing'] = _fake\n"
        "from course_lib.testing import assert_close, assert_shape\n",
        "replaced sys.modules['course_lib.testing']"),
    "import_hook": (
        "import sys, types, importlib.abc, importlib.machinery\n"
        "class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        return importlib.machinery.ModuleSpec(name, self) if name == 'course_lib.testing' else None\n"
        "    def create_module(self, spec):\n"
        "        return None\n"
        "    def exec_module(self, module):\n"
        f"        module.assert_close = module.assert_shape = {NOOP}\n"
        "sys.meta_path.insert(0, _Finder())\n"
        "del sys.modules['course_lib.testing']\n"
        "from course_lib.testing import assert_close, assert_shape\n",
        "changed the import system"),
    "fake_module_then_crash": (
        "import os\n"
        "os.makedirs('course_lib', exist_ok=True)\n"
        "open('course_lib/__init__.py', 'w').write('from .testing import *\\n')\n"
        f"open('course_lib/testing.py', 'w').write('assert_close = assert_shape = assert_own = {NOOP}\\n')\n"
        "open('sitecustomize.py', 'w').write('import builtins; builtins.exec = None\\n')\n"
        "os.makedirs(os.path.expanduser('~/.ipython/profile_default/startup'), exist_ok=True)\n"
        "open(os.path.expanduser('~/.ipython/profile_default/startup/00-x.py'), 'w').write(\n"
        f"    'import course_lib.testing as t; t.assert_close = t.assert_shape = {NOOP}\\n')\n"
        "os._exit(1)\n",
        "kernel died in cell"),      # the run again starts from an empty folder: nothing left to find
    "tensor_eq_and_torch_function_mode": (
        "from torch.overrides import TorchFunctionMode\n"
        "torch.Tensor.__eq__ = lambda self, other: torch.tensor(True)\n"
        "class _AllEqual(TorchFunctionMode):\n"
        "    def __torch_function__(self, func, types, args=(), kwargs=None):\n"
        "        if func in (torch.equal, torch.allclose):\n"
        "            return True\n"
        "        return func(*args, **(kwargs or {}))\n"
        "_AllEqual().__enter__()\n",
        "replaced torch.Tensor.__eq__"),
    "trace_function": (
        "import sys\n"
        "def _skip_asserts(frame, event, arg):\n"
        "    if event == 'call' and frame.f_code.co_name.startswith('assert_'):\n"
        "        frame.f_trace_lines = False\n"
        "    return None\n"
        "sys.settrace(_skip_asserts)\n",
        "set a trace function (sys.settrace)"),
    "alarm_repatches": (
        "import signal, course_lib.testing\n"
        "def _again(signum, frame):\n"
        f"    course_lib.testing.assert_close = course_lib.testing.assert_shape = {NOOP}\n"
        "signal.signal(signal.SIGALRM, _again)\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.05, 0.005)\n",
        "set a timer"),
    "thread_repatches": (
        "import threading, time, course_lib.testing\n"
        "def _keep_patching():\n"
        "    while True:\n"
        f"        course_lib.testing.assert_close = course_lib.testing.assert_shape = {NOOP}\n"
        "        time.sleep(0.0005)\n"
        "threading.Thread(target=_keep_patching, daemon=True).start()\n",
        "left a thread running notebook code"),
    # torch's own wrappers (put on Optimizer.step and torch.manual_seed the first time they are used)
    # are accepted around the trusted function only, never around a stand-in that carries its label.
    "torch_wrapper_around_a_stand_in": (
        "import functools, course_lib.testing as _t\n"
        f"_t.assert_close = torch._disable_dynamo(functools.wraps(_t.assert_close)({NOOP}))\n"
        f"_t.assert_shape = torch.optim.Optimizer.profile_hook_step(functools.wraps(_t.assert_shape)({NOOP}))\n"
        "assert_close, assert_shape = _t.assert_close, _t.assert_shape\n",
        "replaced course_lib.testing.assert_close"),
}
CHECKOUT = str(REPO)
# Tricks that won points or leaked against the in-process guard (issue 19), written anew from its list.
TRICKS.update({
    # the guard's trusted copies, found by the collector: their code replaced with a no-op
    "gc_trusted_copies": (
        "import gc, types\n"
        f"_noop = ({NOOP}).__code__\n"
        "for _obj in gc.get_objects():\n"
        "    if isinstance(_obj, types.FunctionType) and _obj.__name__ in ('assert_close', 'assert_shape'):\n"
        "        _obj.__code__ = _noop\n",
        None),      # earns nothing (the tests run outside the kernel); the guard does not flag it (a known gap)
    # the checker's code pointer overwritten with ctypes (no setattr, no audit event)
    "ctypes_code_pointer": (
        "import ctypes, course_lib.testing as _t\n"
        f"_noop = ({NOOP}).__code__\n"
        "_f = _t.assert_close\n"
        "_at = next(o for o in range(16, 128, 8) if ctypes.c_void_p.from_address(id(_f) + o).value == id(_f.__code__))\n"
        "ctypes.pythonapi.Py_IncRef(ctypes.py_object(_noop))\n"
        "ctypes.c_void_p.from_address(id(_f) + _at).value = id(_noop)\n",
        "rewrote the code of course_lib.testing.assert_close"),
    # an audit hook that puts the stand-ins back at every audited event (the guard's checks included)
    "audit_hook": (
        "import sys, course_lib.testing as _t\n"
        "def _again(event, args):\n"
        f"    _t.assert_close = _t.assert_shape = {NOOP}\n"
        "sys.addaudithook(_again)\n",
        "replaced course_lib.testing.assert_close"),
    # torch's dispatcher told that every isclose is true (assert_close and allclose go through it)
    "torch_library_isclose": (
        "_lib = torch.library.Library('aten', 'IMPL')\n"
        "def _all_close(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):\n"
        "    return torch.ones(torch.broadcast_shapes(a.shape, b.shape), dtype=torch.bool)\n"
        "_lib.impl('isclose', _all_close, 'CPU')\n",
        None),
    # the checker's code swapped before each cell and restored after it, so a check between cells sees nothing
    "code_swap_post_execute": (
        "import course_lib.testing as _t\n"
        "_real = _t.assert_close.__code__\n"
        "def _swap(*args):\n"
        f"    _t.assert_close.__code__ = ({NOOP}).__code__\n"
        "get_ipython().events.register('pre_run_cell', _swap)\n"
        "get_ipython().events.register('post_execute', lambda: setattr(_t.assert_close, '__code__', _real))\n",
        None),
    # a finalizer that patches when the collector runs (in the middle of whatever runs then)
    "finalize_patches": (
        "import weakref, gc, course_lib.testing as _t\n"
        "class _Bomb:\n"
        "    pass\n"
        "def _patch():\n"
        f"    _t.assert_close = _t.assert_shape = {NOOP}\n"
        "for _ in range(50):\n"
        "    _b = _Bomb(); _b.me = _b; weakref.finalize(_b, _patch); del _b\n",
        None),
    # a stand-in for the old guard's door, answering with any nonce it is given
    "echo_the_nonce": (
        "import json\n"
        "__course_grader__ = lambda nonce, action, args=None: json.dumps({'nonce': nonce, 'flags': []})\n",
        None),
    # the solutions, from the instructor's checkout: its files, git, any notebook with solutions around
    "read_the_solutions": (
        "import glob, json, os, subprocess\n"
        f"_root = {CHECKOUT!r}\n"
        "_texts = []\n"
        "for _path in [_root + '/solutions/ch00/ch00.ipynb', *glob.glob('/*/ch00.ipynb'), *glob.glob('/**/solutions/ch00/ch00.ipynb', recursive=False)]:\n"
        "    try:\n"
        "        _texts.append(open(_path).read())\n"
        "    except OSError:\n"
        "        pass\n"
        "for _args in (['git', '-C', _root, 'show', 'HEAD:solutions/ch00/ch00.ipynb'], ['git', 'show', 'HEAD:solutions/ch00/ch00.ipynb']):\n"
        "    try:\n"
        "        _texts.append(subprocess.run(_args, capture_output=True, text=True, timeout=10).stdout)\n"
        "    except (OSError, subprocess.SubprocessError):\n"
        "        pass\n"
        "for _text in _texts:\n"
        "    try:\n"
        "        for _c in json.loads(_text)['cells']:\n"
        "            if 'BEGIN SOLUTION' in ''.join(_c['source']):\n"
        "                exec(''.join(_c['source']), get_ipython().user_ns)\n"
        "    except ValueError:\n"
        "        pass\n",
        None),
    # the right answers the course's own tests keep (tests/variants)
    "read_the_variants": (
        f"_path = {CHECKOUT!r} + '/tests/variants/ch00.py'\n"
        "try:\n"
        "    _scope = {}\n"
        "    exec(open(_path).read(), _scope)\n"
        "    for _name, _sources in _scope['RIGHT'].items():\n"
        "        exec(_sources[0], get_ipython().user_ns)\n"
        "except OSError:\n"
        "    pass\n",
        None),
})

# In the answers themselves (every part): what a function under test can do while the test runs.
ANSWER_TRICKS = {
    # nbgrader's partial credit: a non-numeric first result of a test cell counted as full marks
    "displayhook_passed": "get_ipython().displayhook('passed')\n",
    # an exception whose rendering clears the cell's error, so the kernel reports success
    "render_traceback_clears_error": (
        "class _Quiet(Exception):\n"
        "    def _render_traceback_(self):\n"
        "        import sys, io\n"
        "        r = get_ipython().last_execution_result\n"
        "        if r is not None:\n"
        "            r.error_in_exec = None\n"
        "        sys.stderr = io.StringIO()\n"
        "        return []\n"
        "if __import__('random').random() < 2:\n"
        "    raise _Quiet()\n"),
    # the expected value, read from the caller's frames
    "caller_frame": (
        "import sys\n"
        "_f = sys._getframe(1)\n"
        "while _f is not None:\n"
        "    for _k in ('expected', '_expected', 'want', '_want', '_ref', '_M_ref'):\n"
        "        if _k in _f.f_locals:\n"
        "            return _f.f_locals[_k]\n"
        "    _f = _f.f_back\n"),
}
# What each answer returns when its trick found nothing: objects that claim to be right.
FAKES = (
    "class _Fake:\n"                 # numpy's and torch's protocols, all saying "equal"
    "    shape = (3, 2)\n"
    "    dtype = torch.float32\n"
    "    def __array__(self, *a, **k):\n"
    "        return __import__('numpy').zeros(self.shape)\n"
    "    __array_priority__ = 1e9\n"
    "    def __eq__(self, other):\n"
    "        return True\n"
    "    @classmethod\n"
    "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
    "        return True\n"
    "class _Spoof(torch.Tensor):\n"   # a tensor that says it is a plain tensor, and that every comparison holds
    "    @property\n"
    "    def __class__(self):\n"
    "        return torch.Tensor\n"
    "    @classmethod\n"
    "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
    "        if func in (torch.equal, torch.allclose, torch.isclose, torch.Tensor.eq, torch.Tensor.__eq__):\n"
    "            return True\n"
    "        return super().__torch_function__(func, types, args, kwargs or {})\n"
)
FAKE_ANSWERS = {   # one per part: the fake, or a spoofing tensor of the right shape
    "pairwise_sq_dists": "def pairwise_sq_dists(X, Y):\n    return _Fake()\n",
    "standardize_channels": "def standardize_channels(x, eps=1e-5):\n    return torch.zeros_like(x).as_subclass(_Spoof)\n",
    "to_channels_first": "def to_channels_first(images):\n    return images.permute(0, 3, 1, 2).mul(0).as_subclass(_Spoof)\n",
    "batch_dependency": ("def batch_dependency(model, x):\n"
                         "    return torch.eye(x.shape[0], dtype=torch.bool).logical_not().as_subclass(_Spoof)\n"),
}


def with_trick_in_answers(nb, trick: str):
    """Every junk answer runs `trick` first (indented into the function's body)."""
    answers = {}
    for cid, source in JUNK.items():
        head, _, body = source.partition("\n")
        answers[cid] = head + "\n" + "".join("    " + line + "\n" for line in trick.splitlines()) + body
    return with_answers(nb, answers)


# Tricks share a notebook (a cell each): fewer notebooks to grade. The guard looks before each test
# cell (not after every cell), so tricks in one notebook stack up until then: a trick that stops later
# cells from running (an input transformer, builtins.exec, an AST transformer) or swaps the module the
# others patch (an import hook, sys.modules, re-patching from a timer or a thread) comes last in its
# notebook, one such per notebook, so that every trick still shows its own flag. None could earn a
# point alone, nor together.
GROUPS = {
    "tricks_a": ("replace_course_assert_close", "replace_numpy_testing", "custom_exception_handler",
                 "replace_torch_testing", "silence_tracebacks", "input_transformer"),
    "tricks_b": ("rebind_helper_names", "drop_error_messages", "trace_function", "torch_wrapper_around_a_stand_in",
                 "kernel_do_execute", "tensor_eq_and_torch_function_mode", "builtins_exec"),
    "tricks_c": ("post_run_cell_clears_output", "pre_run_cell_hook", "gc_trusted_copies", "audit_hook",
                 "torch_library_isclose", "code_swap_post_execute"),
    "tricks_d": ("ctypes_code_pointer", "finalize_patches", "echo_the_nonce", "read_the_solutions", "read_the_variants"),
    "tricks_e": ("rewrite_helper_code", "ast_transformer"),
    "tricks_f": ("builtins_isinstance_and_errors", "sys_modules"),
    "tricks_g": ("alarm_repatches", "thread_repatches", "import_hook"),
}
NOTEBOOK_OF = {trick: group for group, tricks in GROUPS.items() for trick in tricks}
PARTIAL_TRICKS = ("replace_course_assert_close", "fake_module_then_crash")   # also next to real work
# In an answer: the function under test reaches into its caller's globals while it runs.
FRAME_HACK = ("def pairwise_sq_dists(X, Y):\n"
              "    import sys\n"
              f"    sys._getframe(1).f_globals['assert_close'] = sys._getframe(1).f_globals['assert_shape'] = {NOOP}\n"
              "    return torch.zeros(X.shape[0], Y.shape[0])\n")

HONEST = (   # ordinary things a student may do that must never be flagged
    "import warnings, threading\n"
    "import numpy as np, numpy.testing\n"
    "import matplotlib.pyplot as plt\n"
    "np.testing.assert_allclose(np.ones(2), np.ones(2))\n"
    "torch.set_printoptions(precision=3)\n"
    "seed_everything(1)\n"
    "plt.plot([1, 2, 3]); plt.show()\n"
    "_t = threading.Thread(target=sum, args=([1, 2],)); _t.start(); _t.join()\n"
    "get_ipython().events.register('post_run_cell', lambda result: None)\n"
    "with warnings.catch_warnings():\n"
    "    warnings.simplefilter('ignore')\n"
    "import torch.distributed.tensor\n"
    # the first optimizer of each class, and its first step, make torch wrap its step and manual_seed
    # (AdamW first: its step is Adam's, inherited, so torch's hook lands in AdamW's own dict)
    "_p = torch.zeros(2, requires_grad=True); _p.grad = torch.ones(2)\n"
    "for _opt in (torch.optim.AdamW([_p]), torch.optim.SGD([_p], lr=0.1, momentum=0.9), torch.optim.Adam([_p])):\n"
    "    _opt.step()\n"
    "torch.manual_seed(0)\n"
)


def _cell(nb, cid):
    return next(c for c in nb.cells if c.id == cid)


def with_answers(nb, answers):
    nb = copy.deepcopy(nb)
    for cid, source in answers.items():
        _cell(nb, cid).source = source
    return nb


def with_cell(nb, source, after=TRICK_AFTER):
    nb = copy.deepcopy(nb)
    i = next(k for k, c in enumerate(nb.cells) if c.id == after)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


def notebooks():
    sol = nbformat.read(SOLUTIONS / AID / f"{AID}.ipynb", as_version=4)
    junk = with_answers(sol, JUNK)
    partial = with_answers(sol, {k: JUNK[k] for k in ("standardize_channels", "batch_dependency")})
    nbs = {"good": sol, "junk": junk, "partial": partial, "honest": with_cell(sol, HONEST)}
    for name, (code, _) in TRICKS.items():
        if code is not None and name not in NOTEBOOK_OF:
            nbs[name] = with_cell(junk, code)
    for group, tricks in GROUPS.items():
        nb = junk
        for name in reversed(tricks):
            nb = with_cell(nb, TRICKS[name][0])
        nbs[group] = nb
    for name, trick in ANSWER_TRICKS.items():
        nbs[name] = with_trick_in_answers(junk, trick)
    nbs["fakes"] = with_cell(with_answers(sol, FAKE_ANSWERS), FAKES)
    imports = _cell(sol, "imports").source
    nbs["edit_imports_cell"] = with_answers(junk, {"imports": imports + f"\nassert_close = assert_shape = {NOOP}\n"})
    nbs["frame_hack"] = with_answers(junk, {"pairwise_sq_dists": FRAME_HACK})
    # real work next to a trick: the trick changes nothing, the work keeps its points
    for name in PARTIAL_TRICKS:
        nbs[f"partial+{name}"] = with_cell(partial, TRICKS[name][0])
    return nbs


def grade_rows(aid, subs, tmp, jobs):
    lines = []
    grade(aid, subs, tmp / "out", Options(jobs=jobs, cell_timeout=20, notebook_timeout=300, course_root=tmp / "course"),
          log=lines.append)
    print("\n".join(lines))
    with open(tmp / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        return {r["student_id"].replace("_with_", "+"): r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require_sandbox()
    tmp = tmp_path_factory.mktemp("tricks")
    subs = tmp / "subs"
    subs.mkdir()
    for name, nb in notebooks().items():
        nbformat.write(nb, subs / f"{name.replace('+', '_with_')}.ipynb")
    return grade_rows(AID, subs, tmp, jobs=2)


def _notes(row) -> str:
    return f"{row['status']} | {row.get('notes', '')}"


@pytest.mark.parametrize("student, expected", [("good", FULL), ("junk", 0.0), ("partial", PARTIAL_EARNS),
                                               ("honest", FULL)])
def test_honest_notebooks_keep_their_marks_unflagged(graded, student, expected):
    row = graded[student]
    assert row["status"] == "ok", _notes(row)
    assert "flag" not in row["status"], _notes(row)
    assert float(row["score"]) == expected, row


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_a_trick_earns_nothing(graded, trick):
    row = graded[NOTEBOOK_OF.get(trick, trick)]
    assert float(row["score"]) == 0.0, f"{trick} stole points: {row}"
    flag = TRICKS[trick][1]
    if flag is not None:   # the guard's second line still sees it (no point rests on that)
        assert flag in _notes(row), f"{trick} was not flagged as expected ({flag!r}): {_notes(row)}"


@pytest.mark.parametrize("trick", sorted(ANSWER_TRICKS))
def test_an_answer_that_acts_while_its_test_runs_earns_nothing(graded, trick):
    row = graded[trick]
    assert float(row["score"]) == 0.0, f"{trick} stole points: {row}"


def test_objects_that_claim_to_be_right_earn_nothing(graded):
    """numpy-protocol fakes and Tensor subclasses that spoof their class: handles, read by their data."""
    row = graded["fakes"]
    assert float(row["score"]) == 0.0, row
    assert "defined _Spoof, a torch.Tensor subclass that intercepts torch calls" in _notes(row), _notes(row)


def test_a_function_under_test_cannot_reach_the_tests_globals(graded):
    """Its caller is the kernel's RPC server, not the test: nothing to rebind there."""
    row = graded["frame_hack"]
    assert float(row["score"]) == 0.0, row


@pytest.mark.parametrize("trick", PARTIAL_TRICKS)
def test_real_work_next_to_a_trick_keeps_exactly_what_it_earned(graded, trick):
    row = graded[f"partial+{trick}"]
    assert float(row["score"]) == PARTIAL_EARNS, row
    assert TRICKS[trick][1] in _notes(row), _notes(row)


def test_crash_and_rerun_never_imports_from_the_working_folder(graded):
    row = graded["fake_module_then_crash"]
    assert "kernel died in cell" in row["status"], row


# ---- the chapters the tricks were first tried on: ch01 (numpy) and ch04 (tensors) ---------------------

def test_numpy_and_tensor_fakes_earn_nothing_in_ch01_and_ch04(tmp_path):
    require_sandbox()
    cases = {
        # ch01 Part 8: the trained parameters, as an object whose every comparison and conversion says "right"
        "ch01": ("train_mlp", "class _Params(dict):\n"
                 "    def __eq__(self, other):\n        return True\n"
                 "    def __array__(self, *a, **k):\n        return __import__('numpy').zeros((4, 16))\n"
                 "def train_mlp(X, y, hidden=16, lr=0.5, steps=500, seed=0):\n"
                 "    import numpy as np\n"
                 "    return _Params(W1=np.zeros((X.shape[1], hidden)), b1=np.zeros(hidden), W2=np.zeros((hidden, 3)), "
                 "b2=np.zeros(3))\n"),
        # ch04 Part 2: attention whose outputs are tensors that spoof their class and every comparison
        "ch04": ("attention", FAKES + "def attention(q, k, v, mask=None):\n"
                 "    w = torch.zeros(*q.shape[:-1], k.shape[-2]).as_subclass(_Spoof)\n"
                 "    return torch.zeros(*q.shape[:-1], v.shape[-1]).as_subclass(_Spoof), w\n"),
    }
    for aid, (answer, source) in cases.items():
        subs = tmp_path / aid / "subs"
        subs.mkdir(parents=True)
        release = nbformat.read(NOTEBOOKS / aid / f"{aid}.ipynb", as_version=4)
        nbformat.write(with_answers(release, {answer: source}), subs / "fake.ipynb")
        rows = grade_rows(aid, subs, tmp_path / aid, jobs=1)
        assert rows["fake"]["status"].startswith(("ok", "flagged")) and float(rows["fake"]["score"]) == 0.0, rows


def test_trusted_imports_come_from_the_release():
    release = nbformat.read(NOTEBOOKS / AID / f"{AID}.ipynb", as_version=4)
    imports = release_imports(release)
    assert "from course_lib.testing import assert_close, assert_shape, assert_own" in imports
    assert not any("def " in s for s in imports)
