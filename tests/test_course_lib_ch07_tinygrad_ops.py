"""tinygrad's op tests, ported: course_lib.tensor against PyTorch, forward and gradients.

Written from reading tinygrad's test/backend/test_ops.py (tinygrad/tinygrad): the same operations,
shapes, input ranges, tolerances and expected errors, for the float32 cases of the operations
course_lib.tensor implements. As there, every input is drawn uniformly from [low, high) (seeded),
the forward results are compared, and then the gradients of output.sum() with respect to every
input, computed by `Tensor.gradient` on one side and torch.autograd on the other.

Each case runs on the numpy backend; a cross-section runs again on the generated-C backend in the slow
tests (compiled kernels are cached on disk, so a second run compiles nothing).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from course_lib import lazy
from course_lib.tensor import Tensor

F = torch.nn.functional


def check(shapes, torch_fn, ours_fn=None, *, atol=1e-6, rtol=1e-3, grad_atol=1e-4, grad_rtol=1e-3,
          forward_only=False, vals=None, low=-2.0, high=2.0):
    """ours_fn (default: torch_fn) on course_lib Tensors against torch_fn on torch tensors."""
    ours_fn = ours_fn or torch_fn
    if vals is None:
        rng = np.random.default_rng(0)
        data = [rng.uniform(low, high, size=s).astype(np.float32) for s in shapes]
    else:
        data = [np.asarray(v, dtype=np.float32) for v in vals]
    ts = [torch.tensor(d, requires_grad=not forward_only) for d in data]
    ours = [Tensor(d) for d in data]
    expected = torch_fn(*ts)
    got = ours_fn(*ours).numpy()
    want = expected.detach().numpy()
    assert got.shape == want.shape, f"forward: shape {got.shape}, torch {want.shape}"
    assert got.dtype.kind == want.dtype.kind, f"forward: dtype {got.dtype}, torch {want.dtype}"
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg="forward")
        return
    np.testing.assert_allclose(got, want, atol=atol, rtol=rtol, err_msg="forward")
    if forward_only or not ts:
        return
    torch_grads = torch.autograd.grad(torch_fn(*ts).sum(), ts, allow_unused=True)
    our_grads = ours_fn(*ours).sum().gradient(*ours)
    Tensor.realize(*our_grads)
    for i, (g, tg) in enumerate(zip(our_grads, torch_grads)):
        tg = np.zeros_like(data[i]) if tg is None else tg.numpy()
        np.testing.assert_allclose(g.numpy(), tg, atol=grad_atol, rtol=grad_rtol, err_msg=f"gradient of input {i}")


def raises(shapes, torch_fn, ours_fn=None, expected=Exception):
    """Both sides raise `expected` on the same input."""
    data = [np.random.default_rng(0).uniform(-1.5, 1.5, size=s).astype(np.float32) for s in shapes]
    with pytest.raises(expected):
        torch_fn(*[torch.tensor(d) for d in data])
    with pytest.raises(expected):
        (ours_fn or torch_fn)(*[Tensor(d) for d in data])


CASES = {
    # creation
    "zeros": lambda: [check([], lambda: torch.zeros(45, 65), lambda: Tensor.zeros(45, 65), forward_only=True),
                      check([], lambda: torch.zeros([]), lambda: Tensor.zeros([]), forward_only=True)],
    "ones": lambda: check([], lambda: torch.ones(45, 65), lambda: Tensor.ones(45, 65), forward_only=True),
    "eye": lambda: [check([], lambda: torch.eye(3, 5), lambda: Tensor.eye(3, 5), forward_only=True),
                    check([], lambda: torch.eye(0), lambda: Tensor.eye(0), forward_only=True)],
    "arange": lambda: [check([], lambda: torch.arange(10, dtype=torch.int32), lambda: Tensor.arange(10),
                             forward_only=True),
                       check([], lambda: torch.arange(5, 10, 3, dtype=torch.int32), lambda: Tensor.arange(5, 10, 3),
                             forward_only=True),
                       check([], lambda: torch.arange(5.5, 175.5, 2.5), lambda: Tensor.arange(5.5, 175.5, 2.5),
                             forward_only=True)],
    # elementwise, binary
    "add": lambda: [check([(45, 68), (45, 68)], lambda x, y: x + y), check([(), ()], lambda x, y: x + y),
                    check([(45, 68), (45, 68)], torch.add, Tensor.add)],
    "add3": lambda: check([(45, 65), (45, 65), (45, 65)], lambda x, y, z: x + y + z),
    "broadcasted_add": lambda: [check([(45, 65), (45, 1)], lambda x, y: x + y),
                                check([(45, 65), ()], lambda x, y: x + y),
                                check([(45, 65), (65,)], lambda x, y: x + y)],
    "sub": lambda: [check([(45, 65), (45, 65)], lambda x, y: x - y), check([(), ()], lambda x, y: x - y),
                    check([(45, 65)], lambda x: x - 2), check([(45, 65)], lambda x: 2 - x),
                    check([()], lambda x: 2 - x)],
    "neg": lambda: [check([(45, 65)], lambda x: -x), check([()], lambda x: x.neg())],
    "mul": lambda: [check([(64, 64), (64, 64)], lambda x, y: x * y), check([(), ()], lambda x, y: x * y),
                    check([(45, 65)], lambda x: x * 2), check([(45, 65)], lambda x: 255 * x),
                    check([()], lambda x: 2 * x)],
    "div": lambda: [check([(45, 65), (45, 65)], lambda x, y: x / y, atol=1e-5),
                    check([(), ()], lambda x, y: x / y), check([(45, 65)], lambda x: x / 255),
                    check([(45, 65)], lambda x: 1 / x, low=0.5), check([()], lambda x: x / 2)],
    "pow": lambda: [check([(45, 65)], lambda x: x ** k) for k in (0, 1, 2, 3, -2)] +
                   [check([(45, 65)], lambda x: x ** 3, low=-30, high=-27),
                    check([(45, 65)], lambda x: x ** 0.2, low=-30, high=-27),
                    check([(45, 65)], lambda x: x ** 1.2, low=-30, high=-27),
                    check(None, lambda x: x ** 1.1, vals=[[0.0]])],
    "pow_const": lambda: [check([(45, 65)], lambda x: x ** k) for k in (0.0, 1.0, -1.0, 8.0, 5.5, -5.5)] +
                         [check([(45, 65)], lambda x: b ** x) for b in (1.0, 5.5, -5.5, 8.0)],
    "pow_full": lambda: check([(45, 65), (45, 65)], lambda x, y: x ** y),
    "broadcast_full": lambda: [check(shapes, fn, ours, low=0 if fn is torch.pow else -2, high=3 if fn is torch.pow else 2)
                               for fn, ours in ((torch.add, Tensor.add), (torch.sub, Tensor.sub), (torch.mul, Tensor.mul),
                                                (torch.div, Tensor.div), (torch.pow, Tensor.pow))
                               for shapes in (((5, 3, 14, 16), (5, 1, 14, 1)), ((1, 3, 1, 7, 1), (2, 1, 5, 1, 8)))],
    "maximum": lambda: [check([(45, 65), (45, 65)], torch.maximum, Tensor.maximum),
                        check([(), ()], torch.maximum, Tensor.maximum),
                        check(None, torch.maximum, Tensor.maximum, vals=[[1.0, 0.0, 3.0, -4.0], [-1.0, -2.0, 3.0, 0.0]]),
                        check(None, lambda x: torch.maximum(x, torch.zeros_like(x)), lambda x: x.maximum(0),
                              vals=[[-1.0, 0.0, 1.0]])],
    "minimum": lambda: [check([(45, 65), (45, 65)], torch.minimum, Tensor.minimum),
                        check(None, torch.minimum, Tensor.minimum, vals=[[1.0, 0.0, 3.0, -4.0], [-1.0, -2.0, 3.0, 0.0]])],
    "where": lambda: [check(shps, lambda x, a, b: torch.where(x > 0.5, a, b), lambda x, a, b: (x > 0.5).where(a, b),
                            forward_only=True)
                      for shps in ([(8,), (1,), (1,)], [(10, 10), (10,), (10,)], [(100,)] * 3, [(10, 10)] * 3)],
    "cmp": lambda: [check([(3, 4, 5), (5,)], fn, forward_only=True) for fn in
                    (lambda x, y: x < y, lambda x, y: x > y, lambda x, y: x <= y, lambda x, y: x >= y,
                     lambda x, y: x == y, lambda x, y: x != y)],
    "cmp_backward": lambda: check([(4,)], lambda x: x * (x < 0)),
    # elementwise, unary
    "sqrt": lambda: [check([(45, 65)], lambda x: x.sqrt(), low=0), check(None, lambda x: x.sqrt(), vals=[[0.0]]),
                     check([()], lambda x: x.sqrt(), low=0)],
    "rsqrt": lambda: check([(45, 65)], lambda x: x.rsqrt(), low=0.1),
    "relu": lambda: [check([(64, 64)], lambda x: x.relu()), check(None, lambda x: x.relu(), vals=[[-1.0, 0, 1]])],
    "leaky_relu": lambda: check([(45, 65)], lambda x: F.leaky_relu(x, 0.01), lambda x: x.leaky_relu(0.01)),
    "abs": lambda: [check([(45, 65)], torch.abs, Tensor.abs), check(None, torch.abs, Tensor.abs, vals=[[-1.0, 0, 1]])],
    "log": lambda: [check([(45, 65)], torch.log, Tensor.log, low=0.01),
                    check(None, torch.log, Tensor.log, vals=[[math.inf, -math.inf, math.nan]], forward_only=True)],
    "log2": lambda: check([(45, 65)], torch.log2, Tensor.log2, low=0.01),
    "exp": lambda: [check([(45, 65)], torch.exp, Tensor.exp),
                    check(None, torch.exp, Tensor.exp, vals=[[math.inf, -math.inf, math.nan]], forward_only=True),
                    check([()], torch.exp, Tensor.exp)],
    "exp2": lambda: check([(45, 65)], torch.exp2, Tensor.exp2),
    "sin": lambda: [check([(45, 65)], lambda x: x.sin()), check([(45, 65)], lambda x: x.cos())],
    "sigmoid": lambda: [check([(45, 65)], torch.sigmoid, Tensor.sigmoid),
                        check([(45, 65)], torch.sigmoid, Tensor.sigmoid, low=300, high=400),
                        check([(45, 65)], torch.sigmoid, Tensor.sigmoid, low=-400, high=-300)],
    "tanh": lambda: [check([(45, 65)], lambda x: x.tanh(), grad_atol=1e-6),
                     check([(45, 65)], lambda x: x.tanh(), grad_atol=1e-6, low=-300, high=-297),
                     check([(45, 65)], lambda x: x.tanh(), grad_atol=1e-6, low=300, high=303)],
    "gelu": lambda: [check([(45, 65)], lambda x: F.gelu(x, approximate="tanh"), lambda x: x.gelu(approximate="tanh")),
                     check([(45, 65)], lambda x: F.gelu(x, approximate="none"), lambda x: x.gelu(approximate="none")),
                     check([(45, 65)], lambda x: F.gelu(x, approximate="tanh"), lambda x: x.gelu(), low=300, high=400),
                     check([(45, 65)], lambda x: F.gelu(x, approximate="tanh"), lambda x: x.gelu(), low=-400, high=-300)],
    "silu": lambda: check([(45, 65)], F.silu, Tensor.silu),
    "softplus": lambda: check([(45, 65)], F.softplus, Tensor.softplus, grad_atol=1e-6),
    "erf": lambda: check([(45, 65)], torch.erf, Tensor.erf, atol=1e-6),
    "clip": lambda: [check([(45, 65)], lambda x: x.clip(-2.3, 1.2)), check([(45, 65)], lambda x: x.clip(0, 0.1)),
                     check([(45, 65)], lambda x: x.clip(None, 0))],
    "topo_sort": lambda: [check([(45, 65)], lambda x: (x + x) * x, grad_atol=1e-6),
                          check([()], lambda x: (x + x) * x, grad_atol=1e-6)],
    # reduce
    "sum": lambda: [check([(45, 3)], lambda x: x.sum())] +
                   [check([(3, 4, 5, 6)], lambda x: x.sum(axis=a)) for a in (3, (1, 3), (0, 2), (1, 2), 1)] +
                   [check([(3, 4, 5, 6)], lambda x: x.sum(axis=1, keepdim=True)), check([()], lambda x: x.sum()),
                    check([()], lambda x: x.sum(-1)), check([(16384,)], lambda x: x.sum(), atol=1e-3),
                    check([(4, 4, 4)], lambda x: x.sum((0, 1)).sum()), check([(256, 1)], lambda x: x.sum(axis=1))],
    "sum_errors": lambda: [raises([(3, 4, 5, 6)], lambda x: x.sum(5), expected=IndexError),
                           raises([()], lambda x: x.sum(1), expected=IndexError)],
    "sum_relu": lambda: check([(3, 4, 5)], lambda x: x.relu().sum().relu()),
    "max": lambda: [check([(45, 3)], lambda x: x.max()), check([(45, 3)], lambda x: x.max().mul(0.5)),
                    check(None, lambda x: x.max().mul(0.5), vals=[[[1.0, 1.0, 0.0, 1.0]]]),
                    check([(3, 4, 5, 6)], lambda x: x.max(axis=1)[0], lambda x: x.max(axis=1)),
                    check([()], lambda x: x.max())],
    "min": lambda: [check([(45, 3)], lambda x: x.min()), check([()], lambda x: x.min())],
    "mean": lambda: [check([(3, 4, 5, 6)], lambda x: x.mean()), check([()], lambda x: x.mean()),
                     check([(3, 4, 5, 6)], lambda x: x.mean(axis=(1, 2))),
                     check([(1, 0, 3, 0, 5)], lambda x: x.mean(axis=(1, 3)))],
    "var": lambda: [check([(15, 25, 35)], lambda x: x.var()),
                    check([(15, 25, 35)], lambda x: x.var(correction=0)), check([(15, 25, 35)], lambda x: x.var(0)), check([(15, 25, 35)], lambda x: x.var([1, 2])),
                    check([(15, 25, 35)], lambda x: x.var(keepdim=True))],
    "std": lambda: [check([(15, 25, 35)], lambda x: x.std()), check([(15, 25, 35)], lambda x: x.std(2))],
    "softmax": lambda: [check([(45, 65)], torch.nn.Softmax(dim=1), Tensor.softmax, atol=1e-7, grad_atol=1e-7),
                        check([(45,)], torch.nn.Softmax(dim=0), Tensor.softmax, atol=1e-7, grad_atol=1e-7),
                        check([()], torch.nn.Softmax(dim=0), Tensor.softmax, atol=1e-7, grad_atol=1e-7)] +
                       [check([(10, 10, 10)], lambda x: x.softmax(a), atol=1e-7, grad_atol=2e-7) for a in (0, 1, 2)],
    "log_softmax": lambda: [check([(45, 65)], torch.nn.LogSoftmax(dim=1), Tensor.log_softmax, atol=1e-7,
                                  grad_atol=1e-7),
                            check([(45,)], torch.nn.LogSoftmax(dim=0), Tensor.log_softmax, atol=1e-7, grad_atol=1e-7)] +
                           [check([(10, 10, 10)], lambda x: x.log_softmax(a), atol=1e-7, grad_atol=1e-7)
                            for a in (0, 1, 2)],
    "logsumexp": lambda: [check([(45, 65)], lambda x: torch.logsumexp(x, dim=0), lambda x: x.logsumexp(0),
                                atol=1e-7, grad_atol=1e-7),
                          check([(45, 65)], lambda x: torch.logsumexp(x, dim=1, keepdim=True),
                                lambda x: x.logsumexp(1, True), atol=1e-7, grad_atol=1e-7)],
    "argmax": lambda: check([(45, 65)], lambda x: x.argmax(1).int(), lambda x: x.argmax(1), forward_only=True),
    # movement
    "reshape": lambda: [check([(4, 3, 6, 6)], lambda x: x.reshape((12, 6, 6))),
                        check([(4, 3, 6, 6)], lambda x: x.reshape((-1, 3, 6, 6))),
                        check([(4, 3, 6, 6)], lambda x: x.reshape((-1, 1, 6, 6))),
                        check([()], lambda x: x.reshape(())), check([(1,)], lambda x: x.reshape(())),
                        check([()], lambda x: x.reshape((1, 1, 1)))],
    "reshape_errors": lambda: [raises([(3, 4)], lambda x: x.reshape((-1, -1, 2)), expected=RuntimeError),
                               pytest.raises(ValueError, Tensor.ones(4, 3, 6, 6).reshape, [])],
    "permute": lambda: [check([(1, 2, 3, 4)], lambda x: x.permute((3, 0, 2, 1))),
                        check([(3, 4, 5, 6)], lambda x: x.permute((3, 2, 1, 0))),
                        check([(3, 4, 5, 6)], lambda x: x.permute((-2, -1, 1, 0))), check([()], lambda x: x.permute(()))],
    "permute_errors": lambda: [raises([(3, 4, 5, 6)], lambda x: x.permute(p), expected=RuntimeError)
                               for p in ((0, 2), (0, 1, 2, 3, 3, 3), (0, 0, 1, 2, 3))],
    "transpose": lambda: [check([(3, 3)], lambda x: x.T), check([(3, 3, 3)], lambda x: x.transpose(1, 2)),
                          check([(3, 3, 3)], lambda x: x.transpose(0, 2))],
    "expand": lambda: [check([(4, 3, 1, 6)], lambda x: x.expand((4, 3, 2, 6))),
                       check([(1, 1, 1, 1)], lambda x: x.expand((4, 3, 2, 6))),
                       check([(4, 3, 1, 6)], lambda x: x.expand((6, 1, 4, 3, 2, 6))),
                       check([(4, 3, 1, 6)], lambda x: x.expand((0, 1, 4, 3, 2, 6))),
                       check([()], lambda x: x.expand((4, 3, 2, 6))), check([()], lambda x: x.expand([]))],
    "expand_errors": lambda: [pytest.raises((ValueError, RuntimeError), Tensor.ones(4, 3, 1, 6).expand, s)
                              for s in ((4, 1, 1, 6), (4, 6, 1, 6), (3, 1, 6))],
    "flip": lambda: [check([(4, 3, 6, 6)], lambda x: x.flip(a)) for a in ((0,), (0, 1), (0, 1, 3), (3,), (-1,), ())] +
                    [check([(4, 3, 6, 6)], lambda x: x.flip((0, 1, 3)).flip(0)), check([()], lambda x: x.flip(()))],
    "flip_errors": lambda: [raises([(3, 4)], lambda x: x.flip(a), expected=RuntimeError) for a in ((0, 0), (1, 1), (1, -1))],
    "pad": lambda: [check([(3, 3, 3, 3)], lambda x: F.pad(x, (1, 2, 3, 4)), lambda x: x.pad((1, 2, 3, 4))),
                    check([(3, 3, 3, 3)], lambda x: F.pad(x, (-1, 2, -3, 4)), lambda x: x.pad((-1, 2, -3, 4))),
                    check([(3, 3, 3, 3)], lambda x: F.pad(x, (1, 2, 3, 4), value=5), lambda x: x.pad((1, 2, 3, 4), value=5)),
                    check([(3, 3, 3, 3)], lambda x: F.pad(x, (-1, 2, -3, 4), value=-math.inf),
                          lambda x: x.pad((-1, 2, -3, 4), value=-math.inf)),
                    check([(3, 3)], lambda x: F.pad(x, (1, 2, 3, 4)), lambda x: x.pad(((3, 4), (1, 2)))),
                    check([(3, 3)], lambda x: F.pad(x, (0, 0, 3, 4), value=1), lambda x: x.pad(((3, 4), None), value=1))],
    "pad_errors": lambda: [pytest.raises((RuntimeError, ValueError), Tensor.ones(3, 3).pad, (2, 0, 2)),
                           pytest.raises((RuntimeError, ValueError), Tensor.ones(3, 3).pad, (0, 0, 0, 0, 1, 0, 3, 0)),
                           pytest.raises(NotImplementedError, Tensor.ones(3, 3).pad, (3, 0), mode="typo"),
                           pytest.raises(ValueError, Tensor.ones(3, 3).pad, (None, (0, 1), (3, 0)))],
    "shrink_and_slice": lambda: [check([(3,)], lambda x: x[1:3]), check([(3,)], lambda x: x[-2:2]),
                                 check([(3, 3, 3)], lambda x: x[1:2, 1:2, 1:2]), check([(3, 3, 3)], lambda x: x[0, :, 2]),
                                 check([(7, 5, 10)], lambda x: x[1:5:2, 3, ::4]),
                                 check([(3, 3)], lambda x: x[None, :, None, 1])],
    "pad_reshape": lambda: check([(2, 2)], lambda x: F.pad(x, (1, 1, 1, 1)).reshape(4, 4),
                                 lambda x: x.pad((1, 1, 1, 1)).reshape(4, 4)),
    "cat": lambda: check([(45, 65), (45, 5)], lambda x, y: torch.cat((x, y), 1), lambda x, y: x.cat(y, dim=1)),
    # matrix products
    "dot_1d": lambda: [check([(65,), (65,)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(65,), (65, 45)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(45, 65), (65,)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(8, 45, 65), (65,)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(65,), (8, 65, 45)], lambda x, y: x.matmul(y), Tensor.dot)],
    "dot_errors": lambda: [raises([(4,), (1, 2)], lambda x, y: x.matmul(y), Tensor.dot, expected=RuntimeError),
                           raises([(2, 1), (4,)], lambda x, y: x.matmul(y), Tensor.dot, expected=RuntimeError),
                           raises([(2, 4), (1, 3)], lambda x, y: x.matmul(y), Tensor.dot, expected=RuntimeError),
                           pytest.raises(RuntimeError, Tensor(3.14).matmul, Tensor(3.14))],
    "dot": lambda: [check([(45, 65), (65, 100)], lambda x, y: x.matmul(y), Tensor.dot, atol=1e-5),
                    check([(8, 45, 65), (8, 65, 100)], lambda x, y: x.matmul(y), Tensor.dot, atol=1e-5)],
    "matmul": lambda: [check([(64,), (64, 99)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(3,), (1, 3, 3, 5)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(4, 3), (1, 3, 3, 5)], lambda x, y: x.matmul(y), Tensor.dot),
                       check([(8, 8), (8, 8)], lambda x, y: x.matmul(y), lambda x, y: x @ y),
                       check([(9, 9), (9, 9)], lambda x, y: x.matmul(y), lambda x, y: x @ y),
                       check([(64, 64), (64, 64)], lambda x, y: x.matmul(y)),
                       check([(10, 45, 65), (65, 45)], lambda x, y: x @ y, Tensor.dot, atol=1e-4),
                       check([(3, 3, 45, 65), (3, 3, 65, 45)], lambda x, y: x @ y, Tensor.dot, atol=1e-4)],
    "gemm_with_zeros_shape": lambda: [check(s, lambda x, y: x.matmul(y), Tensor.dot, atol=1e-7)
                                      for s in ([(8, 8), (8, 0)], [(0, 8), (8, 8)], [(8, 0), (0, 8)], [(0,), (0,)])],
    "small_gemm_padded": lambda: check([(9, 9), (9, 9)], lambda x, y: F.pad(x, (0, 7, 0, 7)).matmul(F.pad(y, (0, 7, 0, 7))),
                                       lambda x, y: x.pad(((0, 7), (0, 7))) @ y.pad(((0, 7), (0, 7)))),
    "matvecmat": lambda: check([(1, 128), (128, 128), (128, 128)], lambda x, y, z: (x @ y).relu() @ z, atol=1e-4),
    # losses
    "cross_entropy_probabilities": lambda: [check([(32, 10), (32, 10)], lambda x, y: F.cross_entropy(x, y),
                                                  lambda x, y: x.cross_entropy(y)),
                                            check([(32, 4, 4, 4), (32, 4, 4, 4)], lambda x, y: F.cross_entropy(x, y),
                                                  lambda x, y: x.cross_entropy(y))],
    "cross_entropy_indices": lambda: _with_classes(lambda c: check(
        [(32, 10)], lambda x: F.cross_entropy(x, torch.tensor(c)), lambda x: x.cross_entropy(Tensor(c))), (32,)),
    "cross_entropy_reductions": lambda: [check([(32, 10), (32, 10)], lambda x, y: F.cross_entropy(x, y, reduction=r),
                                               lambda x, y: x.cross_entropy(y, reduction=r))
                                         for r in ("mean", "sum", "none")] +
                                        [raises([(32, 10), (32, 10)], lambda x, y: F.cross_entropy(x, y, reduction="typo"),
                                                lambda x, y: x.cross_entropy(y, reduction="typo"), expected=ValueError)],
    "cross_entropy_smoothing": lambda: [check([(32, 10), (32, 10)], lambda x, y: F.cross_entropy(x, y, label_smoothing=s),
                                              lambda x, y: x.cross_entropy(y, label_smoothing=s))
                                        for s in (0.0, 0.3, 0.7, 1.0)],
    "sparse_categorical_crossentropy": lambda: _with_classes(lambda c: [
        check([(12, 10)], lambda x: torch.nn.CrossEntropyLoss()(x, torch.tensor(c)),
              lambda x: x.sparse_categorical_crossentropy(Tensor(c))),
        check([(12, 10)], lambda x: torch.nn.CrossEntropyLoss(ignore_index=c[0], label_smoothing=0.3)(x, torch.tensor(c)),
              lambda x: x.sparse_categorical_crossentropy(Tensor(c), ignore_index=c[0], label_smoothing=0.3))] +
        [check([(12, 10)], lambda x: torch.nn.CrossEntropyLoss(reduction=r)(x, torch.tensor(c)),
               lambda x: x.sparse_categorical_crossentropy(Tensor(c), reduction=r)) for r in ("mean", "sum", "none")],
        (12,)),
    "sparse_categorical_crossentropy_batched": lambda: _with_classes(lambda c: check(
        [(3, 12, 10)], lambda x: torch.nn.CrossEntropyLoss()(x.permute(0, 2, 1), torch.tensor(c)),
        lambda x: x.sparse_categorical_crossentropy(Tensor(c))), (3, 12)),
}


def _with_classes(fn, shape):
    return fn(np.random.default_rng(1).integers(0, 10, shape).astype(np.int64).tolist())


# The compiled backend runs a cross-section (a compiler run per check costs a tenth of a second).
COMPILED = ["add", "broadcast_full", "div", "pow", "exp", "log", "sigmoid", "gelu", "sum", "max", "mean", "softmax",
            "log_softmax", "permute", "expand", "flip", "pad", "shrink_and_slice", "matmul", "cross_entropy_indices"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_tinygrad_op(name):
    with lazy.use_backend("numpy"):
        CASES[name]()             # each check() or raises() asserts as it runs


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPILED)
def test_tinygrad_op_compiled(name):
    if lazy._compiler().cc is None:
        pytest.skip("no C compiler: the C backend falls back to numpy")
    with lazy.use_backend("c"):
        CASES[name]()
