"""course_lib.tensor, course_lib.lazy, course_lib.charmlp and course_lib.kernelcheck (chapter 7).

The two backends must agree on every kind of kernel; the scheduler must fuse what it may and store
what it must; views must index as numpy's strided arrays do; gradients must accumulate and need no
recursion; bad input must say what is wrong. (tinygrad's op tests, ported, are in
test_course_lib_ch07_tinygrad_ops.py.)
"""
from __future__ import annotations

import math
import subprocess
import warnings

import numpy as np
import pytest
import torch

from course_lib import charmlp, lazy
from course_lib.kernelcheck import run_kernel_source
from course_lib.lazy import View
from course_lib.tensor import ShapeError, Tensor, dtypes

HAS_CC = lazy._compiler().cc is not None
needs_cc = pytest.mark.skipif(not HAS_CC, reason="no C compiler on this machine")


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# ---- the two backends agree ---------------------------------------------------------------------------
def graphs():
    """Expressions that exercise every op and view kind: (name, function of three tensors)."""
    return {
        "elementwise chain": lambda a, b, c: ((a * b + 1).exp() - c.sin()).sqrt().log() * (a < b),
        "gelu and softmax": lambda a, b, c: a.gelu() + b.softmax(0) - c.log_softmax(1),
        "reduce then broadcast": lambda a, b, c: a - a.mean(1, keepdim=True) + b.max(0) + c.reshape(4, 1, 6).sum(1),
        "matmul and transpose": lambda a, b, c: (a @ b.T).relu() @ c,
        "pad shrink flip": lambda a, b, c: a.pad(((1, 2), (0, 3)), value=-1.5)[1:5, ::2].flip(0) * 2
                                           + b.flip(1)[:1].pad(((2, 1), (1, 1)))[:, 1:6],
        "reshape of a permuted computation": lambda a, b, c: (a + b).T.reshape(2, 12).sum(0) + c.reshape(-1)[:12],
        "where and casts": lambda a, b, c: (a > 0).where(b, c) + (b > c).sum(1, keepdim=True) + (a == a).cast(dtypes.float32),
        "integer labels": lambda a, b, c: a.sparse_categorical_crossentropy(Tensor([0, 5, 3, 1])) + b.argmax(1).sum(),
        "max with ties": lambda a, b, c: (a * 0).max(1) + (a.maximum(b) - c.minimum(1.0)).sum(),
        "empty and scalar": lambda a, b, c: a[:0].sum() + Tensor(3.0) * b[0, 0] + Tensor.zeros(0, 3).max(0).sum(),
    }


@needs_cc
@pytest.mark.parametrize("name", sorted(graphs()))
def test_c_and_numpy_backends_agree_forward_and_backward(name):
    fn = graphs()[name]
    data = [rand(4, 6, seed=s) for s in (1, 2, 3)]
    results = {}
    for backend in ("numpy", "c"):
        with lazy.use_backend(backend):
            xs = [Tensor(d) for d in data]
            out = fn(*xs)
            grads = (out.sum() if out.shape else out).gradient(*xs)
            results[backend] = [out.numpy()] + [g.numpy() for g in grads]
    for got, want in zip(results["c"], results["numpy"]):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@needs_cc
def test_numbers_of_every_dtype_survive_both_backends():
    for backend in ("numpy", "c"):
        with lazy.use_backend(backend):
            t = Tensor([[1, -2], [3, 4]])
            assert t.dtype == dtypes.int32 and (t * 2 + 1).numpy().tolist() == [[3, -3], [7, 9]]
            assert ((t > 1) * (t < 4)).numpy().tolist() == [[0, 0], [1, 0]]
            assert (t > 1).logical_not().numpy().tolist() == [[True, True], [False, False]]
            assert (t / 2).numpy().tolist() == [[0.5, -1.0], [1.5, 2.0]]
            assert t.max().item() == 4 and t.sum().item() == 6 and t.min().item() == -2
            assert Tensor([math.inf, -math.inf]).exp().numpy().tolist() == [math.inf, 0.0]


# ---- the scheduler: what is fused and what is stored -----------------------------------------------------
def kernels_of(t, **kw):
    return t.schedule(**kw)


def test_an_elementwise_chain_is_one_kernel_and_unfused_it_is_one_per_op():
    x = Tensor(rand(64, 64))
    gelu = x.gelu()
    fused, eager = kernels_of(gelu), kernels_of(gelu, fuse=False)
    assert len(fused) == 1
    assert len(eager) == len(fused[0].ops) > 10
    assert fused[0].bytes_read == fused[0].bytes_written == 64 * 64 * 4
    assert sum(k.bytes_read + k.bytes_written for k in eager) > 10 * (fused[0].bytes_read + fused[0].bytes_written)


def test_softmax_is_three_kernels_because_a_reduce_ends_a_kernel():
    ks = kernels_of(Tensor(rand(8, 16)).softmax())
    assert [k.reduce for k in ks] == ["AMAX", "SUM", None]
    assert "EXP" in ks[1].ops and "EXP" in ks[2].ops             # recomputed, not stored
    assert all(k.bytes_read <= 8 * 16 * 4 + 2 * 8 * 4 for k in ks)


def test_elementwise_ops_feeding_a_reduce_fuse_into_it():
    ks = kernels_of((Tensor(rand(8, 16)).exp() * 2 + 1).sum(1))
    assert len(ks) == 1 and ks[0].reduce == "SUM" and {"EXP", "MUL", "ADD"} <= set(ks[0].ops)


def test_a_computed_value_that_is_broadcast_is_stored_once():
    x = Tensor(rand(8, 1))
    ks = kernels_of((x.exp() + 1).expand(8, 32) * Tensor(rand(8, 32)))
    assert len(ks) == 2 and ks[0].out.shape == (8, 1) and "EXP" in ks[0].ops and "EXP" not in ks[1].ops


def test_matmul_is_one_reduce_kernel_over_a_broadcast_product():
    ks = kernels_of(Tensor(rand(5, 7)) @ Tensor(rand(7, 3)))
    assert len(ks) == 1 and ks[0].shape == (5, 3, 7) and ks[0].reduce == "SUM" and ks[0].ops == ["MUL", "SUM"]
    order = lazy.loop_order(ks[0])
    assert order[-1] == 1, "the loop over N (contiguous in the output and in B) goes innermost"


def test_a_reshape_one_view_cannot_express_stores_its_input_first():
    x = Tensor(rand(4, 6))
    ks = kernels_of((x + 1).T.reshape(24))
    assert len(ks) == 2 and ks[0].out.shape == (6, 4) and ks[0].ops == ["ADD"]   # (x + 1).T, stored
    assert len(kernels_of(x.T.reshape(24) + 1)) == 2            # the copy torch's .reshape would make too
    assert len(kernels_of(x.reshape(2, 12).T + 1)) == 1           # a contiguous reshape is free


def test_movement_ops_are_views_not_copies():
    x = Tensor(rand(6, 8))
    ks = kernels_of(x.permute(1, 0).flip(0)[2:5].pad(((1, 1), (0, 2))).expand(1, 5, 8).reshape(5, 8) * 3)
    assert len(ks) == 1
    (load,) = [ins for ins in ks[0].code if ins[0] == "LOAD"]
    view = load[3][1]
    assert view.mask is not None and any(s < 0 for s in view.strides)


def test_realized_values_are_reused_not_recomputed():
    x = Tensor(rand(4, 4))
    y = x.exp()
    y.realize()
    assert len(kernels_of(y * 2)) == 1 and kernels_of(y * 2)[0].ops == ["MUL"]


def test_print_schedule_names_ops_and_bytes(capsys):
    lazy.print_schedule(kernels_of(Tensor(rand(4, 8)).softmax()))
    out = capsys.readouterr().out
    assert out.count("kernel") == 3 and "AMAX" in out and "reads" in out and "writes 128 B" in out


def test_generated_c_is_a_loop_nest_with_one_line_per_op():
    k = kernels_of(Tensor(rand(3, 4)).exp().sum(1))[0]
    src = lazy.render_c(k, "k")
    assert "expf(" in src and "acc +=" in src and src.count("for (") == 2


# ---- views -------------------------------------------------------------------------------------------
CHAINS = {    # movement ops applied to a (2, 4, 6) array; None where one View cannot express the last reshape
    "permute flip": [("PERMUTE", (1, 0, 2)), ("FLIP", (2,))],
    "shrink pad": [("SHRINK", ((1, 2), (0, 4), (1, 5))), ("PAD", ((1, 0), (2, 1), (0, 3)))],
    "pad shrink": [("PAD", ((1, 0), (2, 1), (0, 3))), ("SHRINK", ((0, 2), (1, 6), (2, 8)))],
    "expand permute": [("SHRINK", ((0, 2), (0, 4), (0, 1))), ("EXPAND", (2, 4, 5)), ("PERMUTE", (2, 0, 1))],
    "pad expand": [("SHRINK", ((0, 2), (0, 1), (0, 6))), ("PAD", ((0, 0), (1, 0), (0, 0))), ("PERMUTE", (1, 0, 2)),
                   ("SHRINK", ((0, 1), (0, 2), (0, 6))), ("EXPAND", (3, 2, 6))],
    "reshape merge": [("RESHAPE", (8, 6)), ("FLIP", (1,)), ("RESHAPE", (2, 2, 2, 6))],
    "reshape split of shrink": [("SHRINK", ((0, 2), (0, 4), (0, 3))), ("RESHAPE", (2, 2, 2, 3))],
    "reshape ones of pad": [("PAD", ((1, 1), (0, 0), (2, 0))), ("RESHAPE", (4, 1, 4, 8, 1))],
    "flip flip": [("FLIP", (0, 2)), ("SHRINK", ((0, 2), (1, 3), (0, 6))), ("FLIP", (0, 1, 2))],
    "reshape of permute": [("PERMUTE", (2, 1, 0)), ("RESHAPE", (48,))],
    "reshape of pad": [("PAD", ((0, 0), (1, 0), (0, 0))), ("RESHAPE", (10, 6))],
}


def numpy_move(a, op, arg):
    if op == "PERMUTE":
        return a.transpose(arg)
    if op == "FLIP":
        return np.flip(a, arg)
    if op == "SHRINK":
        return a[tuple(slice(b, e) for b, e in arg)]
    if op == "EXPAND":
        return np.broadcast_to(a, arg)
    if op == "PAD":
        return np.pad(a, arg)
    return a.reshape(arg)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_a_view_reads_what_numpy_reads(name):
    base = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    arr, view = base, View.contiguous(base.shape)
    for op, arg in CHAINS[name]:
        arr, view = numpy_move(arr, op, arg), view.apply(op, arg)
        if view is None:
            assert op == "RESHAPE" and name in ("reshape of permute", "reshape of pad")
            return
    assert name not in ("reshape of permute", "reshape of pad"), "one View cannot express this reshape"
    np.testing.assert_array_equal(lazy._np_view(base.reshape(-1), view), arr)


def test_view_reshape_merges_and_splits_strided_axes():
    v = View.contiguous((4, 6)).shrink(((0, 4), (0, 3)))          # every row's first half
    assert v.reshape((2, 2, 3)) == View((2, 2, 3), (12, 6, 1), 0, None)
    assert v.reshape((12,)) is None                               # rows are not one strided run
    assert View.contiguous((3, 1, 4)).expand((3, 5, 4)).reshape((15, 4)) is None
    assert View.contiguous((3, 4)).expand((3, 4)).reshape((1, 3, 1, 4)).strides == (0, 4, 0, 1)


# ---- autograd ----------------------------------------------------------------------------------------
def test_gradients_accumulate_when_a_tensor_is_used_twice():
    a = Tensor([3.0, -1.0], requires_grad=True)
    (a * a + a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [7.0, -1.0])
    (a * 2).sum().backward()                                      # and across backward calls, as in torch
    np.testing.assert_allclose(a.grad.numpy(), [9.0, 1.0])


def test_backward_fills_leaves_only_and_respects_requires_grad_false():
    w, x, frozen = Tensor(rand(3, 2)), Tensor(rand(4, 3)), Tensor(rand(2), requires_grad=False)
    h = x @ w
    (h * frozen).sum().backward()
    assert w.grad is not None and x.grad is not None and frozen.grad is None and h.grad is None
    wt, xt = torch.tensor(w.numpy(), requires_grad=True), torch.tensor(x.numpy(), requires_grad=True)
    ((xt @ wt) * torch.tensor(frozen.numpy())).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-5)


def test_gradient_returns_lazy_gradients_and_leaves_grad_alone():
    x, y = Tensor([1.0, 2.0]), Tensor([3.0, 4.0])
    dx, dy = (x * y).sum().gradient(x, y)
    assert x.grad is None and dx.lazydata.realized is None
    assert dx.numpy().tolist() == [3.0, 4.0] and dy.numpy().tolist() == [1.0, 2.0]
    (unused,) = (x * 2).sum().gradient(y)
    assert unused.numpy().tolist() == [0.0, 0.0]


def test_a_deep_chain_needs_no_recursion():
    x = Tensor([0.5])
    y = x
    for _ in range(3000):
        y = y * 1.0001 + 0.0
    with lazy.use_backend("numpy"):                               # one 6000-op kernel; no compiler run
        (g,) = y.sum().gradient(x)
        np.testing.assert_allclose(g.numpy(), [1.0001 ** 3000], rtol=1e-3)


def test_second_derivatives_come_from_the_same_rules():
    x = Tensor([0.3, -1.2])
    (dx,) = x.tanh().sum().gradient(x)
    (ddx,) = dx.sum().gradient(x)
    t = np.tanh(np.array([0.3, -1.2]))
    np.testing.assert_allclose(ddx.numpy(), -2 * t * (1 - t ** 2), rtol=1e-4)


def test_assign_cuts_the_history():
    p = Tensor([1.0, 2.0])
    for _ in range(3):
        loss = (p * p).sum()
        loss.backward()
        p.assign(p - 0.25 * p.grad)
        p.grad = None
        p.realize()
        assert p.lazydata.op == "BUFFER" and not p.lazydata.src
    np.testing.assert_allclose(p.numpy(), [0.125, 0.25])


# ---- bad input: errors that say what is wrong --------------------------------------------------------------
def test_shapes_that_do_not_broadcast_name_both_shapes():
    with pytest.raises(IndexError, match=r"cannot be broadcast.*\(3,\).*\(4,\)"):
        Tensor.ones(3) + Tensor.ones(4)


def test_impossible_reshape_and_expand_are_runtime_and_value_errors():
    for bad in (lambda: Tensor.ones(3, 4).reshape(5, 2), lambda: Tensor.ones(3, 4).expand(4, 4)):
        with pytest.raises(ShapeError) as info:
            bad()
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    with pytest.raises(IndexError, match="out of range"):
        Tensor.ones(3, 4).sum(2)


def test_backward_through_a_non_scalar_says_how_to_fix_it():
    with pytest.raises(RuntimeError, match=r"scalar.*\(3, 4\).*sum"):
        (Tensor.ones(3, 4) * 2).backward()
    g = Tensor.ones(3, 4)
    x = Tensor(rand(3, 4))
    (x * 2).backward(gradient=g)
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 2.0))


def test_unsupported_dtypes_devices_and_operands_are_named():
    with pytest.raises(TypeError, match="float16.*float32"):
        Tensor([1.0], dtype=np.float16)
    with pytest.raises(TypeError, match="complex"):
        Tensor(np.array([1j]))
    with pytest.raises(RuntimeError, match="CUDA.*CPU only"):
        Tensor([1.0], device="CUDA")
    with pytest.raises(TypeError, match=r"torch\.Tensor.*\.numpy\(\)"):
        Tensor(torch.ones(2))
    with pytest.raises(TypeError, match="Tensor and torch.Tensor"):
        Tensor([1.0]) + torch.ones(1)
    with pytest.raises(RuntimeError, match="only float"):
        Tensor([1, 2]).sum().gradient(Tensor([1, 2]))
    assert Tensor(np.ones(2)).dtype == dtypes.float32               # float64 data is stored as float32


def test_without_a_compiler_the_numpy_backend_runs_after_one_notice(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(lazy.Backend, "compiler", lazy.Compiler(cache=tmp_path))
    monkeypatch.setattr(lazy.Backend, "name", "c")
    monkeypatch.setattr(lazy.Backend, "noticed", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = (Tensor([1.0, 2.0]).exp() * 2).numpy()
        b = Tensor([3.0]).sqrt().numpy()
    notices = [w for w in caught if "no C compiler" in str(w.message)]
    assert len(notices) == 1 and "numpy backend" in str(notices[0].message) and "no-such-cc" in str(notices[0].message)
    np.testing.assert_allclose(a, 2 * np.exp([1.0, 2.0]), rtol=1e-6)
    np.testing.assert_allclose(b, [math.sqrt(3)], rtol=1e-6)


@needs_cc
def test_compiled_kernels_are_cached_on_disk_by_source_hash(monkeypatch, tmp_path):
    first = lazy.Compiler(cache=tmp_path)
    src = {"k_test": "void k_test(float* restrict out) { out[0] = 42.0f; }"}
    fn = first.functions(src)["k_test"]
    out = np.zeros(1, np.float32)
    fn(out.ctypes.data_as(lazy.ctypes.c_void_p))
    assert out[0] == 42.0
    libs = sorted(p.name for p in tmp_path.glob("k_*.so"))

    def no_compiler(*args, **kwargs):
        raise AssertionError("compiled again although the cache holds this source")

    second = lazy.Compiler(cache=tmp_path)                     # a new process, as far as memory goes
    monkeypatch.setattr(subprocess, "run", no_compiler)
    second.functions(src)
    assert sorted(p.name for p in tmp_path.glob("k_*.so")) == libs


# ---- the chapter's model --------------------------------------------------------------------------------
def test_char_mlp_trains_the_same_in_course_lib_and_torch():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 11, 500)
    params = charmlp.init_params(vocab=11, context=3, embed=4, hidden=16, seed=1)
    ours = {k: Tensor(v) for k, v in params.items()}
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    for _ in range(5):
        X, Y = charmlp.windows(ids, 3, rng.integers(0, len(ids) - 4, 16), vocab=11)
        a = charmlp.sgd_step(Tensor, ours, Tensor(X), Tensor(Y), lr=0.5).item()
        b = charmlp.sgd_step_torch(theirs, torch.tensor(X), torch.tensor(Y), lr=0.5).item()
        assert a == pytest.approx(b, rel=1e-5)
    for k in params:
        np.testing.assert_allclose(ours[k].numpy(), theirs[k].detach().numpy(), rtol=1e-4, atol=1e-6)


def test_windows_are_one_hot_contexts_and_next_characters():
    X, Y = charmlp.windows(np.array([0, 1, 2, 3, 4]), context=2, starts=np.array([0, 2]), vocab=5)
    assert X.shape == (2, 2, 5) and Y.shape == (2, 5)
    assert X[1].argmax(-1).tolist() == [2, 3] and Y.argmax(-1).tolist() == [2, 4]


# ---- the exercises' runner for generated source ------------------------------------------------------------
def test_run_kernel_source_runs_a_generated_kernel():
    src = "def k(out, x, y):\n    for i in range(3):\n        out[i] = math.exp(x[i]) + y[0]\n"
    out = run_kernel_source(src, "k", 3, {"x": np.zeros(3), "y": [1.0]})
    assert out == [2.0, 2.0, 2.0]


def test_run_kernel_source_says_what_is_wrong_with_the_source():
    with pytest.raises(AssertionError, match="does not parse"):
        run_kernel_source("def k(out:\n", "k", 1, {})
    with pytest.raises(AssertionError, match="named 'k'.*'kern'"):
        run_kernel_source("def kern(out):\n    pass\n", "k", 1, {})
    with pytest.raises(AssertionError, match="as a str"):
        run_kernel_source(None, "k", 1, {})
