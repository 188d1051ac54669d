"""A tensor library of four op kinds, lazy and fused, with tinygrad's names: chapter 2's Value lifted
from one number to an array.

Introduced in chapter 7 (under the hood).

    from course_lib.tensor import Tensor
    x = Tensor([[1.0, -2.0], [3.0, 4.0]], requires_grad=True)
    loss = (x @ x).relu().sum()          # a graph of LazyBuffers: nothing is computed yet
    loss.backward()                      # more graph: the gradient, in the same four kinds
    print(loss.numpy(), x.grad.numpy())  # now the scheduler fuses the graph into kernels and runs them

Like micrograd's Value, every operation here is a few lines, and only a few of them are primitive:
each primitive adds one LazyBuffer (course_lib.lazy) of one of four kinds, unary, binary, reduce or
movement, and has one gradient rule in GRADIENT, written with the same four kinds. Everything else
(sub, div, pow, mean, var, sigmoid, tanh, gelu, softmax, log_softmax, cross-entropy, matmul,
broadcasting, indexing) is built from those primitives, as tinygrad builds it, so its gradient comes
from the chain rule and its kernels from the scheduler.

Names and semantics follow tinygrad (0.14) so that tests written for tinygrad run against this:
Tensor(data, device=None, dtype=None, requires_grad=None), Tensor.zeros/ones/full/randn/rand/
uniform/arange/eye, float32 by default (int32 and bool for labels and masks), numpy broadcasting,
`.numpy()`, `.realize()`, `Tensor.realize(*tensors)`, `.backward()` filling `.grad` of every float
tensor in the graph, and `loss.gradient(*targets)`. Errors are tinygrad's: RuntimeError for an
impossible permute, flip or matmul; IndexError for an axis out of range or shapes that do not
broadcast; ShapeError (both a RuntimeError and the ValueError tinygrad 0.14 raises) for an
impossible reshape or expand.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from . import lazy
from .lazy import LazyBuffer

__all__ = ["Tensor", "dtypes", "ShapeError", "GRADIENT"]


class ShapeError(RuntimeError, ValueError):
    """A reshape, expand or assign to a shape the data does not have."""


class dtypes:
    """The three dtypes of the engine (numpy dtypes): float32 for values, int32 and bool for labels and masks."""
    float32 = float = default_float = np.dtype(np.float32)
    int32 = int = default_int = np.dtype(np.int32)
    bool = np.dtype(np.bool_)

    @staticmethod
    def is_float(dtype) -> bool:
        return np.dtype(dtype) == dtypes.float32


_RANK = {dtypes.bool: 0, dtypes.int32: 1, dtypes.float32: 2}


def _dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _RANK:
        raise TypeError(f"dtype {dtype!r} is not supported: course_lib.tensor computes in float32, with int32 and "
                        f"bool for labels and masks (use dtypes.float32, dtypes.int32 or dtypes.bool)")
    return dt


def _array(data, dtype) -> np.ndarray:
    """Data as a fresh array of one of the engine's dtypes: floats become float32, integers int32."""
    if isinstance(data, Tensor):
        data = data.numpy()
    if not isinstance(data, (np.ndarray, list, tuple, bool, int, float, np.generic)):
        raise TypeError(f"Tensor() takes a numpy array, a (nested) list or a number, got {type(data).__module__}."
                        f"{type(data).__name__}" + (" (use .numpy() to pass its values)" if hasattr(data, "numpy") else ""))
    array = np.array(data)
    if dtype is not None:
        return array.astype(_dtype(dtype))
    kinds = {"f": dtypes.float32, "i": dtypes.int32, "u": dtypes.int32, "b": dtypes.bool}
    if array.dtype.kind not in kinds:
        raise TypeError(f"Tensor() cannot hold {array.dtype} data: course_lib.tensor holds float32, int32 and bool")
    return array.astype(kinds[array.dtype.kind])


def _shape_args(shape) -> tuple:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)
    if any(not isinstance(s, (int, np.integer)) or s < 0 for s in shape):
        raise ValueError(f"a shape is a tuple of sizes >= 0, got {shape}")
    return tuple(int(s) for s in shape)


def _argfix(args) -> tuple:
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def broadcast_shape(*shapes) -> tuple:
    """numpy's rule: align on the right; each axis must agree or be 1."""
    ndim = max(len(s) for s in shapes)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {s for s in sizes if s != 1}
        if len(big) > 1:
            raise IndexError(f"shape mismatch: objects cannot be broadcast to a single shape {tuple(shapes)}")
        out.append(big.pop() if big else 1)
    return tuple(out)


class Tensor:
    """An array in a lazy graph: `.lazydata` is the LazyBuffer that will compute it."""

    __slots__ = ("lazydata", "requires_grad", "grad", "__weakref__")
    _leaves: weakref.WeakValueDictionary = weakref.WeakValueDictionary()   # id -> tensors that backward() fills
    _rng = np.random.default_rng()

    def __init__(self, data, device=None, dtype=None, requires_grad: bool | None = None):
        if device is not None and str(device).upper() not in ("CPU", "CLANG"):
            raise RuntimeError(f"device {device!r} is not supported: course_lib.tensor runs on the CPU only "
                               f"(leave device out, or use device='CPU')")
        if isinstance(data, LazyBuffer):
            self.lazydata = data if dtype is None else data.cast(_dtype(dtype))
        else:
            self.lazydata = LazyBuffer.buffer(_array(data, dtype))
        self.requires_grad, self.grad = requires_grad, None
        if requires_grad or not isinstance(data, LazyBuffer):
            Tensor._leaves[id(self)] = self          # a leaf: made from data, or asked to require grad

    __hash__ = object.__hash__

    # ---- what a tensor is -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.lazydata.shape

    @property
    def dtype(self) -> np.dtype:
        return self.lazydata.dtype

    @property
    def device(self) -> str:
        return "CPU"

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        return math.prod(self.shape)

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        state = "realized" if self.lazydata.realized is not None else f"lazy {self.lazydata.op}"
        return f"<Tensor {self.shape} {self.dtype} {state}{'' if self.grad is None else ' with grad'}>"

    def __bool__(self):
        raise TypeError("the truth value of a Tensor is not defined: use .numpy() or .item()")

    # ---- running the graph ------------------------------------------------------------------------
    def realize(self, *others: Tensor) -> Tensor:
        """Compute self (and others) now: schedule their graph into kernels and run them."""
        lazy.realize([t.lazydata for t in (self, *others)])
        return self

    def schedule(self, *others: Tensor, fuse: bool = True) -> list:
        """The kernels realize() would run, without running them (course_lib.lazy.Kernel)."""
        return lazy.create_schedule([lazy.unviewed(t.lazydata) for t in (self, *others)], fuse=fuse)

    def numpy(self) -> np.ndarray:
        return self.realize().lazydata.realized.copy()

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def tolist(self):
        return self.numpy().tolist()

    # ---- creation ----------------------------------------------------------------------------------
    @staticmethod
    def manual_seed(seed: int = 0) -> None:
        Tensor._rng = np.random.default_rng(seed)

    @staticmethod
    def full(shape, fill_value, dtype=None, **kwargs) -> Tensor:
        if dtype is None:
            dtype = dtypes.bool if isinstance(fill_value, bool) else \
                dtypes.int32 if isinstance(fill_value, int) else dtypes.float32
        out = Tensor(LazyBuffer.const(fill_value, _dtype(dtype), _shape_args((shape,))), **kwargs)
        Tensor._leaves[id(out)] = out
        return out

    @staticmethod
    def zeros(*shape, dtype=None, **kwargs) -> Tensor:
        return Tensor.full(_shape_args(shape), 0.0, dtype=dtype or dtypes.float32, **kwargs)

    @staticmethod
    def ones(*shape, dtype=None, **kwargs) -> Tensor:
        return Tensor.full(_shape_args(shape), 1.0, dtype=dtype or dtypes.float32, **kwargs)

    def full_like(self, fill_value, **kwargs) -> Tensor:
        return Tensor.full(self.shape, fill_value, dtype=kwargs.pop("dtype", self.dtype), **kwargs)

    def zeros_like(self, **kwargs) -> Tensor:
        return self.full_like(0, **kwargs)

    def ones_like(self, **kwargs) -> Tensor:
        return self.full_like(1, **kwargs)

    @staticmethod
    def randn(*shape, dtype=None, **kwargs) -> Tensor:
        """Standard normal samples (numpy's generator; Tensor.manual_seed(seed) seeds it)."""
        return Tensor(Tensor._rng.standard_normal(_shape_args(shape), np.float32), dtype=dtype, **kwargs)

    @staticmethod
    def rand(*shape, dtype=None, **kwargs) -> Tensor:
        return Tensor(Tensor._rng.random(_shape_args(shape), np.float32), dtype=dtype, **kwargs)

    @staticmethod
    def uniform(*shape, low=0.0, high=1.0, dtype=None, **kwargs) -> Tensor:
        return Tensor(Tensor._rng.uniform(low, high, _shape_args(shape)).astype(np.float32), dtype=dtype, **kwargs)

    @staticmethod
    def arange(start, stop=None, step=1, dtype=None, **kwargs) -> Tensor:
        if stop is None:
            start, stop = 0, start
        if step == 0:
            raise ValueError("arange: step must not be 0")
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        return Tensor(np.arange(start, stop, step), dtype=dtype or (dtypes.int32 if is_int else dtypes.float32),
                      **kwargs)

    @staticmethod
    def eye(n: int, m: int | None = None, dtype=None, **kwargs) -> Tensor:
        if n < 0 or (m is not None and m < 0):
            raise ValueError(f"eye needs sizes >= 0, got {n}, {m}")
        return Tensor(np.eye(n, m), dtype=dtype or dtypes.float32, **kwargs)

    # ---- the primitives: one LazyBuffer each -----------------------------------------------------------
    def _float(self) -> Tensor:
        return self if self.dtype == dtypes.float32 else self.cast(dtypes.float32)

    def cast(self, dtype) -> Tensor:
        return Tensor(self.lazydata.cast(_dtype(dtype)))

    def neg(self) -> Tensor:
        return self.logical_not() if self.dtype == dtypes.bool else Tensor(self.lazydata.alu("NEG"))

    def exp(self) -> Tensor:
        return Tensor(self._float().lazydata.alu("EXP"))

    def log(self) -> Tensor:
        return Tensor(self._float().lazydata.alu("LOG"))

    def sqrt(self) -> Tensor:
        return Tensor(self._float().lazydata.alu("SQRT"))

    def reciprocal(self) -> Tensor:
        return Tensor(self._float().lazydata.alu("RECIP"))

    def sin(self) -> Tensor:
        return Tensor(self._float().lazydata.alu("SIN"))

    def add(self, x, reverse=False) -> Tensor:
        a, b = self._broadcasted(x, reverse, arithmetic=True)
        return Tensor(a.lazydata.alu("ADD", b.lazydata))

    def mul(self, x, reverse=False) -> Tensor:
        a, b = self._broadcasted(x, reverse, arithmetic=True)
        return Tensor(a.lazydata.alu("MUL", b.lazydata))

    def maximum(self, x) -> Tensor:
        a, b = self._broadcasted(x)
        return Tensor(a.lazydata.alu("MAX", b.lazydata))

    def __lt__(self, x) -> Tensor:
        a, b = self._broadcasted(x)
        return Tensor(a.lazydata.alu("CMPLT", b.lazydata))

    def ne(self, x) -> Tensor:
        a, b = self._broadcasted(x)
        return Tensor(a.lazydata.alu("CMPNE", b.lazydata))

    def where(self, x, y) -> Tensor:
        """x where self is true, else y (all three broadcast together)."""
        x, y = (x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else self)._broadcasted_pair(x, y)
        shape = broadcast_shape(self.shape, x.shape)
        cond = self.cast(dtypes.bool)._broadcast_to(shape)
        return Tensor(cond.lazydata.alu("WHERE", x._broadcast_to(shape).lazydata, y._broadcast_to(shape).lazydata))

    def _reduce(self, op, axis=None, keepdim=False) -> Tensor:
        axes = tuple(range(self.ndim)) if axis is None else \
            tuple(sorted({self._axis(a) for a in (axis if isinstance(axis, (tuple, list)) else (axis,))}))
        if self.ndim == 0 or not axes:
            return self
        out = Tensor(self.lazydata.reduce(op, axes))
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in axes))

    def sum(self, axis=None, keepdim=False) -> Tensor:
        x = self.cast(dtypes.int32) if self.dtype == dtypes.bool else self
        return x._reduce("SUM", axis, keepdim)

    def max(self, axis=None, keepdim=False) -> Tensor:
        return self._reduce("AMAX", axis, keepdim)

    def reshape(self, shape, *args) -> Tensor:
        new = tuple(self.shape[i] if s is None else s for i, s in enumerate(_argfix((shape, *args))))
        if new.count(-1) > 1:
            raise RuntimeError(f"only one dimension can be inferred using -1, getting {new}")
        if -1 in new:
            known = math.prod(s for s in new if s != -1)
            new = tuple(self.numel() // known if s == -1 and known else 0 if s == -1 else s for s in new)
        if any(s < 0 for s in new) or math.prod(new) != self.numel():
            raise ShapeError(f"size mismatch, can't reshape ({self.shape}) -> ({new})")
        return self if new == self.shape else Tensor(self.lazydata.movement("RESHAPE", new))

    def permute(self, order, *args) -> Tensor:
        order = tuple(self._axis(a) for a in _argfix((order, *args)))
        if sorted(order) != list(range(self.ndim)):
            raise RuntimeError(f"order is not a valid permutation, getting {order}")
        return self if order == tuple(range(self.ndim)) else Tensor(self.lazydata.movement("PERMUTE", order))

    def expand(self, shape, *args) -> Tensor:
        """Broadcast to `shape` (new axes on the left; -1 or None keeps a size). A view: no copy."""
        shape = _argfix((shape, *args))
        if len(shape) < self.ndim:
            raise ShapeError(f"cannot broadcast {self.shape} to fewer dimensions {shape}")
        old = (1,) * (len(shape) - self.ndim) + self.shape
        new = tuple(o if n in (-1, None) else n for o, n in zip(old, shape))
        if any(o != n and o != 1 for o, n in zip(old, new)):
            raise ShapeError(f"cannot broadcast {self.shape} to new_shape={new}")
        return self._broadcast_to(new)

    def pad(self, padding, mode: str = "constant", value: float = 0.0) -> Tensor:
        """Pad with `value`. padding: ((before, after) or None) per axis, or torch's flat
        (last_before, last_after, second_last_before, ...). Negative amounts cut instead."""
        if mode != "constant":
            raise NotImplementedError(f"mode={mode!r} is not supported: course_lib.tensor pads with a constant")
        if all(isinstance(p, (int, np.integer)) for p in padding):
            if len(padding) % 2 or len(padding) > 2 * self.ndim:
                raise ValueError(f"padding length is improper, padding={padding} self.ndim={self.ndim}")
            flat = list(padding) + [0] * (2 * self.ndim - len(padding))
            padding = [(flat[2 * i], flat[2 * i + 1]) for i in range(self.ndim)][::-1]
        if len(padding) != self.ndim:
            raise ValueError(f"padding length is improper, padding={padding} self.ndim={self.ndim}")
        padding = [(0, 0) if p is None else tuple(int(v) for v in p) for p in padding]
        x = self.shrink(tuple((-min(b, 0), s + min(a, 0)) for (b, a), s in zip(padding, self.shape)))
        padding = tuple((max(b, 0), max(a, 0)) for b, a in padding)
        if all(p == (0, 0) for p in padding):
            return x
        out = Tensor(x.lazydata.movement("PAD", padding))
        if value == 0:
            return out
        inside = Tensor(LazyBuffer.const(True, dtypes.bool, x.shape).movement("PAD", padding))
        return inside.where(out, value)

    def shrink(self, arg) -> Tensor:
        """Keep [start, end) of each axis (None: all of it). A view: no copy."""
        if len(arg) != self.ndim:
            raise ValueError(f"shrink needs one (start, end) or None per axis: {arg} for shape {self.shape}")
        arg = tuple((0, s) if a is None else (int(a[0]), int(a[1])) for a, s in zip(arg, self.shape))
        if any(not 0 <= b <= e <= s for (b, e), s in zip(arg, self.shape)):
            raise ValueError(f"invalid shrink {arg} for {self.shape}")
        return self if arg == tuple((0, s) for s in self.shape) else Tensor(self.lazydata.movement("SHRINK", arg))

    def flip(self, axis, *args) -> Tensor:
        axes = tuple(self._axis(a) for a in _argfix((axis, *args)))
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"dim can appear at most once, getting {axes}")
        return Tensor(self.lazydata.movement("FLIP", axes)) if axes else self

    def detach(self) -> Tensor:
        """The same values, with no gradient flowing through them."""
        return Tensor(LazyBuffer("DETACH", (self.lazydata,), None, self.shape, self.dtype))

    # ---- helpers the primitives share ------------------------------------------------------------------
    def _axis(self, axis: int) -> int:
        n = max(self.ndim, 1)
        if not -n <= axis < n:
            raise IndexError(f"dim={axis} out of range [{-n}, {n - 1}]")
        return axis + n if axis < 0 else axis

    def _broadcast_to(self, shape) -> Tensor:
        if self.shape == tuple(shape):
            return self
        x = self.reshape((1,) * (len(shape) - self.ndim) + self.shape)
        return x if x.shape == tuple(shape) else Tensor(x.lazydata.movement("EXPAND", tuple(shape)))

    def _const(self, value, dtype=None) -> Tensor:
        if dtype is None:
            dtype = self.dtype if (self.dtype == dtypes.float32 or isinstance(value, bool) or
                                   (isinstance(value, (int, np.integer)) and self.dtype == dtypes.int32)) else \
                dtypes.int32 if isinstance(value, (int, np.integer)) else dtypes.float32
        return Tensor(LazyBuffer.const(value, dtype))

    def _broadcasted(self, y, reverse=False, arithmetic=False) -> tuple[Tensor, Tensor]:
        """self and y (a Tensor or a number) with one dtype and one shape, numpy's broadcasting rule."""
        if not isinstance(y, Tensor):
            if not isinstance(y, (bool, int, float, np.number)):
                raise TypeError(f"unsupported operand: Tensor and {type(y).__module__}.{type(y).__name__} "
                                f"(course_lib.tensor combines Tensors with Tensors and plain numbers)")
            y = self._const(y)
        x, y = (y, self) if reverse else (self, y)
        dtype = max(x.dtype, y.dtype, key=_RANK.get)
        if arithmetic and dtype == dtypes.bool:
            dtype = dtypes.int32               # True + True is 2, as in numpy's int arithmetic
        shape = broadcast_shape(x.shape, y.shape)
        return x.cast(dtype)._broadcast_to(shape), y.cast(dtype)._broadcast_to(shape)

    def _broadcasted_pair(self, x, y) -> tuple[Tensor, Tensor]:
        x = x if isinstance(x, Tensor) else self._const(x) if not isinstance(y, Tensor) else y._const(x)
        return x._broadcasted(y)

    # ---- derived: elementwise -----------------------------------------------------------------------------
    def sub(self, x, reverse=False) -> Tensor:
        a, b = self._broadcasted(x, reverse, arithmetic=True)
        return a + (-b)

    def div(self, x, reverse=False) -> Tensor:
        if not reverse and isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
            return self._float() * (1.0 / x if x != 0 else math.copysign(math.inf, x))
        a, b = self._broadcasted(x, reverse)
        return a._float() * b._float().reciprocal()

    def pow(self, x, reverse=False) -> Tensor:
        if reverse:                                      # number ** tensor
            return (self._float() * math.log(x)).exp() if x > 0 else (self._float() * self._const(
                float(x)).log()).exp() if x < 0 else (self == 0).where(1.0, 0.0)
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            if float(x).is_integer() and abs(x) <= 16:   # exact: repeated multiplication
                k, base, out = abs(int(x)), self._float(), None
                for _ in range(k):
                    out = base if out is None else out * base
                out = self.ones_like(dtype=dtypes.float32) if out is None else out
                return out.reciprocal() if x < 0 else out
            if x == 0.5:
                return self.sqrt()
            zero = self == 0                             # 0 ** x without a 0 * log(0) in the gradient
            safe = zero.where(1.0, self._float())
            return zero.where(0.0 if x > 0 else math.inf, (safe.log() * x).exp())
        a, b = self._broadcasted(x)
        return (a._float().log() * b).exp()

    def __neg__(self): return self.neg()
    def __add__(self, x): return self.add(x)
    def __radd__(self, x): return self.add(x, reverse=True)
    def __sub__(self, x): return self.sub(x)
    def __rsub__(self, x): return self.sub(x, reverse=True)
    def __mul__(self, x): return self.mul(x)
    def __rmul__(self, x): return self.mul(x, reverse=True)
    def __truediv__(self, x): return self.div(x)
    def __rtruediv__(self, x): return self.div(x, reverse=True)
    def __pow__(self, x): return self.pow(x)
    def __rpow__(self, x): return self.pow(x, reverse=True)
    def __matmul__(self, x): return self.matmul(x)
    def __rmatmul__(self, x): return self.matmul(x, reverse=True)
    def __gt__(self, x): return (lambda a, b: b < a)(*self._broadcasted(x))
    def __ge__(self, x): return (self < x).logical_not()
    def __le__(self, x): return (self > x).logical_not()
    def __eq__(self, x): return self.ne(x).logical_not()
    def __ne__(self, x): return self.ne(x)
    def __getitem__(self, index): return self._index(index)

    def logical_not(self) -> Tensor:
        return self.cast(dtypes.bool).ne(True)

    def square(self) -> Tensor:
        return self * self

    def rsqrt(self) -> Tensor:
        return self.sqrt().reciprocal()

    def exp2(self) -> Tensor:
        return (self._float() * math.log(2)).exp()

    def log2(self) -> Tensor:
        return self.log() * (1 / math.log(2))

    def cos(self) -> Tensor:
        return (math.pi / 2 - self._float()).sin()

    def minimum(self, x) -> Tensor:
        a, b = self._broadcasted(x)
        return -((-a).maximum(-b))

    def clip(self, min_=None, max_=None) -> Tensor:
        if min_ is None and max_ is None:
            raise RuntimeError("clip needs at least one of min_ and max_")
        x = self if min_ is None else self.maximum(min_)
        return x if max_ is None else x.minimum(max_)

    clamp = clip

    def sign(self) -> Tensor:
        return (self == 0).where(0, (self < 0).where(-1, 1)).cast(self.dtype)

    def abs(self) -> Tensor:
        return self.maximum(-self)               # at 0 the tie splits the gradient: +1/2 - 1/2 = 0

    def relu(self) -> Tensor:
        return (self > 0).where(self, 0)

    def leaky_relu(self, neg_slope=0.01) -> Tensor:
        return (self < 0).where(self * neg_slope, self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e^-x), computed from e = e^-|x| <= 1 so that no exp overflows, in value or gradient."""
        x = self._float()
        e = (-x.abs()).exp()
        return (x >= 0).where(1.0, e) / (1.0 + e)

    def tanh(self) -> Tensor:
        return 2.0 * (2.0 * self).sigmoid() - 1.0

    def swish(self) -> Tensor:
        return self * self.sigmoid()

    silu = swish

    def softplus(self, beta=1.0) -> Tensor:
        x = self * beta
        return (x.maximum(0) + (-x.abs()).exp().add(1).log()) * (1 / beta)

    def erf(self) -> Tensor:
        """Abramowitz and Stegun's 7.1.26 (error below 1.5e-7): a polynomial and an exp."""
        t = 1.0 / (1.0 + 0.3275911 * self.abs())
        poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
        return self.sign() * (1.0 - poly * (-self * self).exp())

    def gelu(self, approximate: str = "tanh") -> Tensor:
        """x * Phi(x) (Hendrycks and Gimpel 2016); approximate="tanh" is GPT-2's formula."""
        if approximate == "tanh":
            return 0.5 * self * (1.0 + (math.sqrt(2 / math.pi) * (self + 0.044715 * self * self * self)).tanh())
        if approximate == "none":
            return 0.5 * self * (1.0 + (self * (1 / math.sqrt(2))).erf())
        raise RuntimeError(f"approximate={approximate!r} is not supported: use 'tanh' or 'none'")

    # ---- derived: reductions -----------------------------------------------------------------------------
    def min(self, axis=None, keepdim=False) -> Tensor:
        return -((-self).max(axis, keepdim)) if self.dtype != dtypes.bool else \
            self.logical_not().max(axis, keepdim).logical_not()

    def mean(self, axis=None, keepdim=False) -> Tensor:
        s = self._float().sum(axis, keepdim)
        return s / (self.numel() // max(s.numel(), 1) if self.numel() else 0)

    def var(self, axis=None, keepdim=False, correction=1) -> Tensor:
        squares = (self - self.mean(axis, keepdim=True)).square().sum(axis, keepdim)
        n = self.numel() // max(squares.numel(), 1) if self.numel() else 0
        return squares / max(0, n - correction)

    def std(self, axis=None, keepdim=False, correction=1) -> Tensor:
        return self.var(axis, keepdim, correction).sqrt()

    def softmax(self, axis=-1) -> Tensor:
        """e^(x - max) / sum(e^(x - max)): the max, a constant for the gradient, keeps e^ from overflowing."""
        e = (self - self.max(axis, keepdim=True).detach()).exp()
        return e / e.sum(axis, keepdim=True)

    def log_softmax(self, axis=-1) -> Tensor:
        shifted = self - self.max(axis, keepdim=True).detach()
        return shifted - shifted.exp().sum(axis, keepdim=True).log()

    def logsumexp(self, axis=None, keepdim=False) -> Tensor:
        m = self.max(axis, keepdim=True).detach()
        out = (self - m).exp().sum(axis, keepdim=True).log() + m
        return out if keepdim else out.reshape(self._reduce("SUM", axis).shape)

    def argmax(self, axis=None, keepdim=False) -> Tensor:
        """The first index of the maximum, from the four kinds: compare, count down, max."""
        if axis is None:
            return self.reshape(-1).argmax(0)
        axis = self._axis(axis)
        n = self.shape[axis]
        countdown = Tensor.arange(n, 0, -1).reshape((n,) + (1,) * (self.ndim - axis - 1))
        first = ((self == self.max(axis, keepdim=True)).where(countdown, 0)).max(axis, keepdim)
        return (n - first).cast(dtypes.int32)

    # ---- derived: movement ----------------------------------------------------------------------------------
    def transpose(self, dim0=1, dim1=0) -> Tensor:
        order = list(range(self.ndim))
        order[self._axis(dim0)], order[self._axis(dim1)] = order[self._axis(dim1)], order[self._axis(dim0)]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def view(self, shape, *args) -> Tensor:
        return self.reshape(shape, *args)

    def flatten(self, start_dim=0, end_dim=-1) -> Tensor:
        start, end = self._axis(start_dim), self._axis(end_dim)
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1:]) if self.ndim else self.reshape(1)

    def squeeze(self, dim=None) -> Tensor:
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dim = self._axis(dim)
        return self if not self.ndim or self.shape[dim] != 1 else self.reshape(self.shape[:dim] + self.shape[dim + 1:])

    def unsqueeze(self, dim) -> Tensor:
        n = self.ndim + 1
        if not -n <= dim < n:
            raise IndexError(f"dim={dim} out of range [{-n}, {n - 1}]")
        dim = dim + n if dim < 0 else dim
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def cat(self, *others: Tensor, dim=0) -> Tensor:
        """Join along `dim`: pad each piece with zeros to the full length, then add. Four kinds only."""
        pieces, dim = (self, *others), self._axis(dim)
        total, start, out = sum(t.shape[dim] for t in pieces), 0, None
        for t in pieces:
            pad = [None] * self.ndim
            pad[dim] = (start, total - start - t.shape[dim])
            start += t.shape[dim]
            out = t.pad(pad) if out is None else out + t.pad(pad)
        return out

    def _index(self, index) -> Tensor:
        """Basic indexing: ints, slices (any step), None and ..., all as shrink, flip, pad and reshape."""
        index = list(index) if isinstance(index, tuple) else [index]
        if any(not isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis))) or isinstance(i, bool)
               for i in index):
            raise IndexError(f"course_lib.tensor supports ints, slices, None and ... as indices, got {index}")
        real = [i for i in index if i is not None and i is not Ellipsis]
        if len(real) > self.ndim:
            raise IndexError(f"too many indices for a tensor of shape {self.shape}")
        if Ellipsis in index:
            at = index.index(Ellipsis)
            index[at:at + 1] = [slice(None)] * (self.ndim - len(real))
        index += [slice(None)] * (self.ndim - len([i for i in index if i is not None]))
        x, axis, new_shape = self, 0, []
        for i in index:
            if i is None:
                new_shape.append(1)
                continue
            size = self.shape[axis]
            if isinstance(i, slice):
                start, stop, step = i.indices(size)
                n = len(range(start, stop, step))
                lo = start if step > 0 else start + (n - 1) * step if n else 0
                part = [None] * self.ndim
                part[axis] = (lo, lo + (n - 1) * abs(step) + 1 if n else lo)
                x = x.shrink(part)
                if step < 0:
                    x = x.flip(axis)
                if abs(step) > 1 and n:                 # every k-th: pad to n*k, view as (n, k), keep column 0
                    k = abs(step)
                    pad = [None] * self.ndim
                    pad[axis] = (0, n * k - x.shape[axis])
                    x = x.pad(pad)
                    x = x.reshape(x.shape[:axis] + (n, k) + x.shape[axis + 1:])
                    keep = [None] * x.ndim
                    keep[axis + 1] = (0, 1)
                    x = x.shrink(keep).reshape(x.shape[:axis] + (n,) + x.shape[axis + 2:])
                new_shape.append(n)
            else:
                if not -size <= i < size:
                    raise IndexError(f"index {i} is out of bounds for axis {axis} with size {size}")
                i = i + size if i < 0 else i
                part = [None] * self.ndim
                part[axis] = (i, i + 1)
                x = x.shrink(part)
            axis += 1
        return x.reshape(tuple(new_shape))

    # ---- derived: matrix products and losses -----------------------------------------------------------
    def dot(self, w: Tensor) -> Tensor:
        """Matrix product as movement + binary + reduce: (..., I, R) times (..., R, J). Line both
        up as (..., I, J, R), self broadcast along J and w along I; multiply; sum away R."""
        if self.ndim == 0 or w.ndim == 0:
            raise RuntimeError(f"both tensors need to be at least 1D, got {self.ndim}D and {w.ndim}D")
        r_axis = -min(w.ndim, 2)                          # R: w's second-to-last axis, or its only one
        if self.shape[-1] != w.shape[r_axis]:
            raise RuntimeError(f"cannot dot {self.shape} and {w.shape}")
        x = self
        if w.ndim > 1:
            w = w.transpose(-1, -2)                       # (..., J, R)
            if self.ndim > 1:                             # x (..., I, 1, R) against w (..., 1, J, R)
                x = x.reshape(*x.shape[:-1], 1, x.shape[-1])
                w = w.reshape(*w.shape[:-2], 1, *w.shape[-2:])
        return (x * w).sum(-1)

    def matmul(self, x: Tensor, reverse=False) -> Tensor:
        return x.dot(self) if reverse else self.dot(x)

    def linear(self, weight: Tensor, bias: Tensor | None = None) -> Tensor:
        out = self * weight if weight.ndim == 1 else self.dot(weight)
        return out if bias is None else out + bias

    def one_hot(self, num_classes: int) -> Tensor:
        return (self.unsqueeze(-1) == Tensor.arange(num_classes)).where(1, 0)

    def _reduction(self, reduction: str) -> Tensor:
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction={reduction!r} must be one of 'mean', 'sum', 'none'")
        return self.mean() if reduction == "mean" else self.sum() if reduction == "sum" else self

    def cross_entropy(self, Y: Tensor, reduction="mean", label_smoothing=0.0) -> Tensor:
        """torch.nn.functional.cross_entropy: classes along axis 1 (axis 0 for one example); Y holds
        class indices or probabilities."""
        class_axis = 1 if self.ndim > 1 else 0
        if Y.shape != self.shape:
            if tuple(s for i, s in enumerate(self.shape) if i != class_axis) != Y.shape:
                raise RuntimeError(f"shape mismatch: self.shape={self.shape}, Y.shape={Y.shape}")
            Y = Y.unsqueeze(class_axis).ne(Tensor.arange(self.shape[class_axis]).reshape(
                (-1,) + (1,) * (self.ndim - class_axis - 1))).where(0.0, 1.0)
        Y = (1 - label_smoothing) * Y + label_smoothing / self.shape[class_axis]
        return (-(self.log_softmax(class_axis) * Y).sum(class_axis))._reduction(reduction)

    def sparse_categorical_crossentropy(self, Y: Tensor, ignore_index=-1, label_smoothing=0.0,
                                        reduction="mean") -> Tensor:
        """Cross-entropy of logits (classes on the last axis) against integer labels Y; labels equal to
        ignore_index (when not -1) count for nothing."""
        if Y.shape != self.shape[:-1]:
            raise RuntimeError(f"shape mismatch: labels of shape {Y.shape} for logits of shape {self.shape}")
        log_probs = self.log_softmax(-1)
        keep = Y.ne(ignore_index) if ignore_index != -1 else Y.ones_like(dtype=dtypes.bool)
        target = Y.one_hot(self.shape[-1]) * keep.unsqueeze(-1)
        picked = (log_probs * target).sum(-1) * (1 - label_smoothing) + log_probs.mean(-1) * keep * label_smoothing
        if reduction == "mean":
            return -picked.sum() / keep.sum()
        return (-picked)._reduction(reduction)

    # ---- autograd -----------------------------------------------------------------------------------------
    def gradient(self, *targets: Tensor, gradient: Tensor | None = None) -> list[Tensor]:
        """d(self)/d(target) for each target, as new lazy tensors (a graph of the four kinds)."""
        if gradient is None:
            if self.shape != ():
                raise RuntimeError(f"backward needs a scalar: this tensor has shape {self.shape}. Reduce it first "
                                   f"(.sum() or .mean()), or pass gradient= a tensor of that shape")
            gradient = Tensor(LazyBuffer.const(1.0, dtypes.float32))
        if self.dtype != dtypes.float32 or any(t.dtype != dtypes.float32 for t in targets):
            raise RuntimeError("only float Tensors have gradient")
        if gradient.shape != self.shape:
            raise ShapeError(f"gradient of shape {gradient.shape} for a tensor of shape {self.shape}")
        order = lazy.toposort([self.lazydata])                  # inputs before the nodes that use them
        wanted, on_path = {id(t.lazydata) for t in targets}, set()
        for node in order:
            if id(node) in wanted or any(id(s) in on_path for s in node.src):
                on_path.add(id(node))
        grads = {id(self.lazydata): gradient.lazydata}
        for node in reversed(order):                             # users before inputs: each gradient complete
            g = grads.get(id(node))
            if g is None or not node.src:
                continue
            srcs = [Tensor(s) for s in node.src]
            for s, gs in zip(node.src, GRADIENT[node.op](Tensor(g), Tensor(node), node.arg, *srcs)):
                if gs is not None and id(s) in on_path:
                    assert gs.shape == s.shape, f"{node.op}: gradient of shape {gs.shape} for {s.shape}"
                    grads[id(s)] = grads[id(s)].alu("ADD", gs.lazydata) if id(s) in grads else gs.lazydata
        return [Tensor(grads[id(t.lazydata)]) if id(t.lazydata) in grads else t.zeros_like() for t in targets]

    def backward(self, gradient: Tensor | None = None) -> Tensor:
        """Add d(self)/d(t) to t.grad for every leaf t in self's graph: a float tensor made from data
        (or with requires_grad=True), unless its requires_grad is False."""
        nodes = {id(n) for n in lazy.toposort([self.lazydata])}
        targets = [t for t in list(Tensor._leaves.values()) if id(t.lazydata) in nodes and t is not self and
                   t.requires_grad is not False and t.dtype == dtypes.float32]
        for t, g in zip(targets, self.gradient(*targets, gradient=gradient)):
            t.grad = g if t.grad is None else t.grad + g
        return self

    def assign(self, x) -> Tensor:
        """Give self the value of x (an optimizer step: p.assign(p - lr * p.grad)), with no history."""
        x = x if isinstance(x, Tensor) else Tensor.full(self.shape, x, dtype=self.dtype)
        if x.shape != self.shape:
            raise ShapeError(f"assign: shape {x.shape} to a tensor of shape {self.shape}")
        self.lazydata = x.cast(self.dtype).detach().lazydata
        return self


# ---- one gradient rule per primitive: (upstream g, output, arg, *inputs) -> a gradient per input ----------
def _inverse(order):
    return tuple(int(i) for i in np.argsort(order))


GRADIENT = {
    "NEG": lambda g, out, arg, x: (-g,),
    "EXP": lambda g, out, arg, x: (g * out,),
    "LOG": lambda g, out, arg, x: (g / x,),
    "SQRT": lambda g, out, arg, x: (g / (out * 2),),
    "RECIP": lambda g, out, arg, x: (-g * out * out,),
    "SIN": lambda g, out, arg, x: (g * (math.pi / 2 - x).sin(),),
    "CAST": lambda g, out, arg, x: (g.cast(x.dtype) if x.dtype == dtypes.float32 else None,),
    "ADD": lambda g, out, arg, a, b: (g, g),
    "MUL": lambda g, out, arg, a, b: (g * b, g * a),
    "MAX": lambda g, out, arg, a, b: ((a > b).where(g, (a == b).where(g * 0.5, 0.0)),
                                      (b > a).where(g, (a == b).where(g * 0.5, 0.0))),
    "CMPLT": lambda g, out, arg, a, b: (None, None),
    "CMPNE": lambda g, out, arg, a, b: (None, None),
    "WHERE": lambda g, out, arg, c, a, b: (None, c.where(g, 0.0), c.where(0.0, g)),
    "SUM": lambda g, out, arg, x: (g.expand(x.shape),),
    "AMAX": lambda g, out, arg, x: (_max_share(g, out, arg, x),),
    "RESHAPE": lambda g, out, arg, x: (g.reshape(x.shape),),
    "PERMUTE": lambda g, out, arg, x: (g.permute(_inverse(arg)),),
    "EXPAND": lambda g, out, arg, x: (g.sum(tuple(i for i, (a, b) in enumerate(zip(x.shape, arg)) if a != b),
                                            keepdim=True),),
    "PAD": lambda g, out, arg, x: (g.shrink(tuple((b, b + s) for (b, _), s in zip(arg, x.shape))),),
    "SHRINK": lambda g, out, arg, x: (g.pad(tuple((b, s - e) for (b, e), s in zip(arg, x.shape))),),
    "FLIP": lambda g, out, arg, x: (g.flip(arg),),
    "DETACH": lambda g, out, arg, x: (None,),
}


def _max_share(g, out, axes, x):
    """A max's gradient goes to the elements equal to it, split evenly between ties."""
    hit = (x == out).where(1.0, 0.0)
    return hit * g / hit.sum(axes, keepdim=True)
