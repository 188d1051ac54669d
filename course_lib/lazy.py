"""Laziness and kernel fusion for course_lib.tensor: the graph of the four op kinds, the scheduler that
groups it into kernels, and the two backends that run them (generated C, or numpy).

Introduced in chapter 7 (under the hood).

Every Tensor operation adds a LazyBuffer to a graph and computes nothing. Its op is one of

    unary     NEG EXP LOG SQRT RECIP SIN CAST                  one input, elementwise
    binary    ADD MUL MAX CMPLT CMPNE WHERE                      two inputs (WHERE: three), elementwise
    reduce    SUM AMAX                                           over some axes, which stay as size 1
    movement  RESHAPE PERMUTE EXPAND PAD SHRINK FLIP (DETACH)    views: they change the index, not the data

and the leaves are BUFFER (an array in memory) and CONST (one number). `realize` asks for the
values of some nodes; `create_schedule` turns the graph below them into kernels:

1. A node is STORED (written to memory, the output of one kernel) when it was asked for, when it is
   a reduce (its consumers need the whole result before they can start), when a broadcast (EXPAND)
   would otherwise recompute it once per copy, and when it is the value a reduce consumes and
   another op uses too (softmax's e^(x - max), summed and then divided): computed once, not once
   in the reduce's kernel and again later. Everything else is fused: an elementwise node is
   computed inside each kernel that uses it, in a register, never written to memory.
2. Movement ops cost nothing: they become index arithmetic inside the kernel. Each input of a
   kernel is read through a View (shape, strides, offset and a mask for padding). A RESHAPE that a
   single View cannot express (a reshape of a transposed view, say) stores its input first: the one
   copy this engine makes. tinygrad turns movement ops into symbolic index expressions instead
   (earlier versions stacked views in a ShapeTracker) and never copies.
3. A kernel is lowered to straight-line code (one instruction per op, loads first) that both
   backends run: the C backend prints it as a loop nest, compiles it with the system C compiler
   (cached by a hash of the source, loaded with ctypes); the numpy backend interprets it with
   array operations. With no C compiler the numpy backend is used, after one notice.
4. The C backend runs consecutive kernels that loop over the same rows as one loop over rows, each
   row read from memory once and then from the cache; a value stored only for kernels of that loop
   (rule 1's shared reduce input) is never written out whole: it lives in the current row of the
   output of the last kernel that reads it, when that kernel reads each number exactly where it
   writes its own (softmax's quotient: PyTorch's softmax divides in place the same way), else in a
   buffer of one row, overwritten row after row.

    from course_lib.tensor import Tensor
    x = Tensor.randn(1024, 1024)
    y = x.softmax()                      # 10 lazy ops, nothing computed yet
    print_schedule(create_schedule([y.lazydata]))   # 4 kernels: max, exp, sum, exp / sum
"""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import math
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np

UNARY = ("NEG", "EXP", "LOG", "SQRT", "RECIP", "SIN", "CAST")
BINARY = ("ADD", "MUL", "MAX", "CMPLT", "CMPNE", "WHERE")
REDUCE = ("SUM", "AMAX")
MOVEMENT = ("RESHAPE", "PERMUTE", "EXPAND", "PAD", "SHRINK", "FLIP", "DETACH")
LOAD = ("BUFFER", "CONST")
KIND = {**{op: "unary" for op in UNARY}, **{op: "binary" for op in BINARY}, **{op: "reduce" for op in REDUCE},
        **{op: "movement" for op in MOVEMENT}, **{op: "load" for op in LOAD}}
DTYPES = (np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.bool_))
_NAME = {dt: dt.name for dt in DTYPES}     # str(dtype) is slow, and lowering asks often


# ---- the graph ---------------------------------------------------------------------------------
class LazyBuffer:
    """One node of the graph: an op, its inputs (src), its argument, and the shape and dtype of its
    result. `realized` holds the result once a kernel has computed it (a BUFFER has it from birth)."""

    __slots__ = ("op", "src", "arg", "shape", "dtype", "realized", "__weakref__")

    def __init__(self, op, src, arg, shape, dtype, realized=None):
        self.op, self.src, self.arg = op, src, arg
        self.shape, self.dtype, self.realized = tuple(shape), np.dtype(dtype), realized

    @staticmethod
    def buffer(array: np.ndarray) -> LazyBuffer:
        array = array if array.flags.c_contiguous else array.copy()   # (np.ascontiguousarray makes 0-d 1-d)
        return LazyBuffer("BUFFER", (), None, array.shape, array.dtype, array)

    @staticmethod
    def const(value, dtype, shape=()) -> LazyBuffer:
        node = LazyBuffer("CONST", (), np.dtype(dtype).type(value).item(), (), dtype)
        if shape:
            node = node.movement("RESHAPE", (1,) * len(shape))
            return node.movement("EXPAND", tuple(shape)) if any(s != 1 for s in shape) else node
        return node

    def __repr__(self):
        return f"<LazyBuffer {self.op} {self.shape} {self.dtype}{' realized' if self.realized is not None else ''}>"

    # the four kinds; the Tensor class has checked the arguments
    def alu(self, op, *others, dtype=None) -> LazyBuffer:
        srcs = (self, *others)
        assert all(s.shape == self.shape for s in srcs), f"{op}: shapes differ {[s.shape for s in srcs]}"
        if dtype is None:
            dtype = np.bool_ if op in ("CMPLT", "CMPNE") else srcs[-1].dtype
        return LazyBuffer(op, srcs, None, self.shape, dtype)

    def cast(self, dtype) -> LazyBuffer:
        return self if np.dtype(dtype) == self.dtype else LazyBuffer("CAST", (self,), None, self.shape, dtype)

    def reduce(self, op, axes) -> LazyBuffer:
        shape = tuple(1 if i in axes else s for i, s in enumerate(self.shape))
        return LazyBuffer(op, (self,), tuple(axes), shape, self.dtype)

    def movement(self, op, arg) -> LazyBuffer:
        return LazyBuffer(op, (self,), arg, movement_shape(self.shape, op, arg), self.dtype)


def movement_shape(shape, op, arg) -> tuple:
    if op in ("RESHAPE", "EXPAND"):
        return tuple(arg)
    if op == "PERMUTE":
        return tuple(shape[i] for i in arg)
    if op == "PAD":
        return tuple(s + b + a for s, (b, a) in zip(shape, arg))
    if op == "SHRINK":
        return tuple(e - b for b, e in arg)
    return tuple(shape)            # FLIP, DETACH


def toposort(roots, stop=lambda node: False) -> list[LazyBuffer]:
    """Every node below `roots`, each after its inputs, without recursion (an explicit stack).
    `stop(node)` True: the node is listed, its inputs are not visited."""
    order, seen = [], set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if not stop(node):
            stack.extend((s, False) for s in reversed(node.src) if id(s) not in seen)
    return order


# ---- views: movement ops as index arithmetic --------------------------------------------------
def contiguous_strides(shape) -> tuple:
    strides, step = [], 1
    for s in reversed(shape):
        strides.append(step if s != 1 else 0)
        step *= s
    return tuple(reversed(strides))


class View(NamedTuple):
    """Where element (i0, i1, ...) of a view lives in its buffer: offset + sum(i_k * strides[k]), if
    every mask[k] = (lo, hi) holds lo <= i_k < hi; elsewhere the view reads 0 (padding)."""
    shape: tuple
    strides: tuple
    offset: int = 0
    mask: tuple | None = None

    @staticmethod
    def contiguous(shape) -> View:
        return View(tuple(shape), contiguous_strides(shape))

    def _with_mask(self, shape, strides, offset, mask):
        if mask is not None and all(m == (0, s) for m, s in zip(mask, shape)):
            mask = None
        return View(tuple(shape), tuple(strides), offset, None if mask is None else tuple(mask))

    def _mask(self):
        return self.mask if self.mask is not None else tuple((0, s) for s in self.shape)

    def permute(self, order) -> View:
        m = self._mask()
        return self._with_mask([self.shape[i] for i in order], [self.strides[i] for i in order], self.offset,
                               [m[i] for i in order])

    def expand(self, shape) -> View:
        m = self._mask()
        mask = [mk if old == new else ((0, new) if mk == (0, 1) else (0, 0))
                for old, new, mk in zip(self.shape, shape, m)]
        strides = [st if old == new else 0 for old, new, st in zip(self.shape, shape, self.strides)]
        return self._with_mask(shape, strides, self.offset, mask)

    def shrink(self, arg) -> View:
        offset = self.offset + sum(b * st for (b, _), st in zip(arg, self.strides))
        mask = []
        for (b, e), (lo, hi) in zip(arg, self._mask()):
            lo, hi = max(lo - b, 0), min(hi - b, e - b)
            mask.append((lo, hi) if lo < hi else (0, 0))
        return self._with_mask([e - b for b, e in arg], self.strides, offset, mask)

    def flip(self, axes) -> View:
        offset, strides, mask = self.offset, list(self.strides), list(self._mask())
        for i in axes:
            offset += (self.shape[i] - 1) * strides[i]
            strides[i] = -strides[i]
            lo, hi = mask[i]
            mask[i] = (self.shape[i] - hi, self.shape[i] - lo) if lo < hi else (0, 0)
        return self._with_mask(self.shape, strides, offset, mask)

    def pad(self, arg) -> View:
        offset = self.offset - sum(b * st for (b, _), st in zip(arg, self.strides))
        mask = [(lo + b, hi + b) if lo < hi else (0, 0) for (b, _), (lo, hi) in zip(arg, self._mask())]
        return self._with_mask([s + b + a for s, (b, a) in zip(self.shape, arg)], self.strides, offset, mask)

    def reshape(self, shape) -> View | None:
        """The same elements in a new shape, or None when one View cannot say it (the caller copies)."""
        shape = tuple(shape)
        if shape == self.shape:
            return self
        if math.prod(shape) == 0:
            return View.contiguous(shape)
        old = [(s, st, mk) for s, st, mk in zip(self.shape, self.strides, self._mask()) if s != 1]
        if self.mask is not None:      # masked: only size-1 axes may come or go
            if [s for s in shape if s != 1] != [s for s, _, _ in old] or \
                    any(mk != (0, 1) for s, mk in zip(self.shape, self.mask) if s == 1):
                return None
            it = iter(old)
            dims = [next(it) if s != 1 else (1, 0, (0, 1)) for s in shape]
            return self._with_mask(shape, [d[1] for d in dims], self.offset, [d[2] for d in dims])
        strides, oi, ni = [0] * len(shape), 0, 0
        while ni < len(shape):         # match groups of axes with equal products, as numpy does
            if shape[ni] == 1:
                ni += 1
                continue
            nj, oj, new_size, old_size = ni + 1, oi + 1, shape[ni], old[oi][0]
            while new_size != old_size:
                if new_size < old_size:
                    new_size, nj = new_size * shape[nj], nj + 1
                else:
                    old_size, oj = old_size * old[oj][0], oj + 1
            if any(old[k][1] != old[k + 1][1] * old[k + 1][0] for k in range(oi, oj - 1)):
                return None            # the old axes of this group are not one strided run
            step = old[oj - 1][1]
            for k in reversed(range(ni, nj)):
                strides[k] = step if shape[k] != 1 else 0
                step *= shape[k]
            ni, oi = nj, oj
        return View(shape, tuple(strides), self.offset, None)

    def apply(self, op, arg) -> View | None:
        if op == "DETACH":
            return self
        return getattr(self, op.lower())(arg)


# ---- the scheduler ------------------------------------------------------------------------------
@dataclass
class Kernel:
    """One pass over memory: computes `out` (stored) from loads of `bufs`.

    code: straight-line instructions (op, dtype, srcs, arg); srcs index earlier instructions, and the
    last instruction is the value stored. ("LOAD", dtype, (), (i, view)) reads bufs[i] through view;
    ("CONST", dtype, (), (value, view)) is a number (0 where the view's mask says padding).
    shape is the loop nest: out's shape, or for a reduce the shape of its input, with `axes` summed
    (or maxed) away. scratch: out is stored only so that later kernels of the schedule need not
    compute it again (nobody asked for it); the C backend keeps only one row of it at a time when
    every kernel that reads it shares its loop over rows (see row_buffers)."""
    out: LazyBuffer
    shape: tuple
    reduce: str | None
    axes: tuple
    bufs: list
    code: list
    scratch: bool = False

    @property
    def ops(self) -> list[str]:
        return [ins[0] for ins in self.code if ins[0] not in ("LOAD", "CONST")] + ([self.reduce] if self.reduce else [])

    @property
    def bytes_read(self) -> int:
        return sum(b.realized.nbytes if b.realized is not None else math.prod(b.shape) * b.dtype.itemsize
                   for b in self.bufs)

    @property
    def bytes_written(self) -> int:
        return math.prod(self.out.shape) * self.out.dtype.itemsize

    @cached_property
    def outer(self) -> tuple[int, int] | None:
        """_outer(self), asked often while grouping kernels: computed once."""
        return _outer(self)

    def key(self) -> tuple:
        """What the generated code depends on (not the data): kernels with equal keys share a binary."""
        return (self.shape, self.reduce, self.axes, _NAME[self.out.dtype], tuple(_NAME[b.dtype] for b in self.bufs),
                tuple(self.code))


class _StoreFirst(Exception):
    """Lowering met a reshape that one View cannot express: store `node` and lower again."""

    def __init__(self, node):
        self.node = node


def create_schedule(outs, fuse: bool = True) -> list[Kernel]:
    """The kernels that compute the LazyBuffers `outs`, in an order that respects their inputs.

    fuse=False stores every unary, binary and reduce result: one kernel per op, as an eager library
    (numpy, PyTorch without torch.compile) runs them."""
    outs = [o for o in dict.fromkeys(outs) if o.realized is None]
    order = toposort(outs, stop=lambda node: node.realized is not None)
    order = [n for n in order if n.realized is None and n.op != "BUFFER"]
    users: dict[int, set] = {}
    for node in order:
        for s in node.src:
            users.setdefault(id(s), set()).add(id(node))
    stored, scratch = set(outs), set()
    for node in order:
        if node.op in REDUCE or (not fuse and node.op in UNARY + BINARY):
            stored.add(node)
            base = node.src[0]         # the value a reduce consumes, used elsewhere too (softmax's e^x):
            if node.op in REDUCE and base.op in UNARY + BINARY and base.realized is None and \
                    base not in stored and len(users[id(base)]) > 1:
                stored.add(base)       # compute it once, not once in the reduce's kernel and again later
                scratch.add(base)
        elif node.op == "EXPAND":      # broadcasting a computed value: compute it once, store it, read it
            base = node.src[0]
            while base.op in MOVEMENT and base.realized is None:
                base = base.src[0]
            if base.op in UNARY + BINARY and base.realized is None:
                stored.add(base)
    kernels, done = [], set()

    def build(node):   # a stack, not recursion: a closure that calls itself is a cycle only gc can free
        pending = [node]
        while pending:
            try:
                kernel = lower(pending[-1], stored)
            except _StoreFirst as split:   # lower needs split.node stored first: build that, then retry
                stored.add(split.node)
                pending.append(split.node)
                continue
            built = pending.pop()
            kernel.scratch = built in scratch
            kernels.append(kernel)
            done.add(built)

    for node in order:
        if node in stored and node not in done:
            build(node)
    return kernels


def lower(root: LazyBuffer, stored) -> Kernel:
    """root's kernel: straight-line code from loads of realized or stored nodes (iterative)."""
    top = root.src[0] if root.op in REDUCE else root
    code, memo, bufs = [], {}, {}

    def is_load(node):
        return node is not root and (node.realized is not None or node.op == "BUFFER" or node in stored)

    # (node, the movement ops between the loop nest and node, their ids, inputs done)
    stack = [(top, (), (), False)]
    while stack:
        node, path, pids, inputs_done = stack.pop()
        k = (id(node), pids)
        if not inputs_done and k in memo:
            continue
        load = is_load(node)
        if node.op in MOVEMENT and not load:
            inner = (id(node.src[0]), (*pids, id(node)))
            if inputs_done:
                memo[k] = memo[inner]
            else:
                stack += [(node, path, pids, True), (node.src[0], (*path, node), inner[1], False)]
            continue
        if load or node.op == "CONST":
            view = View.contiguous(node.shape)
            for i in range(len(path) - 1, -1, -1):      # the movement ops, from the buffer up
                moved = view.apply(path[i].op, path[i].arg)
                if moved is None:
                    raise _StoreFirst(path[i].src[0])
                view = moved
            if node.op == "CONST" and not load:
                ins = ("CONST", _NAME[node.dtype], (), (node.arg, view))
            else:
                ins = ("LOAD", _NAME[node.dtype], (), (bufs.setdefault(id(node), (len(bufs), node))[0], view))
            memo[k] = len(code)
            code.append(ins)
            continue
        if not inputs_done:
            stack.append((node, path, pids, True))
            stack += [(s, path, pids, False) for s in reversed(node.src)]
            continue
        memo[k] = len(code)
        code.append((node.op, _NAME[node.dtype], tuple(memo[(id(s), pids)] for s in node.src),
                     _NAME[node.dtype] if node.op == "CAST" else None))
    loads = sorted(bufs.values(), key=lambda item: item[0])
    if root.op in REDUCE:
        return Kernel(root, top.shape, root.op, root.arg, [n for _, n in loads], code)
    return Kernel(root, root.shape, None, (), [n for _, n in loads], code)


def print_schedule(kernels, file=None) -> None:
    """Each kernel: its loop nest, the bytes it reads and writes, and the ops it fuses."""
    import textwrap

    for i, k in enumerate(kernels):
        print(f"kernel {i}: loops {k.shape}, reads {_size(k.bytes_read)}, writes {_size(k.bytes_written)}", file=file)
        print(textwrap.fill(" ".join(k.ops) or "copy", 72, initial_indent="    ", subsequent_indent="    "), file=file)


def _size(n) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


# ---- backend 1: numpy ---------------------------------------------------------------------------
_NP_OPS = {
    "NEG": np.negative, "EXP": np.exp, "LOG": np.log, "SQRT": np.sqrt, "SIN": np.sin,
    "RECIP": lambda x: np.float32(1) / x,
    "ADD": np.add, "MUL": np.multiply, "MAX": np.maximum, "CMPLT": np.less, "CMPNE": np.not_equal,
    "WHERE": np.where,
}


def _np_view(array, view: View):
    """The view of a flat array as an ndarray of view.shape (padding read as 0), without copying
    where no padding is involved."""
    itemsize = array.dtype.itemsize
    if view.mask is None:
        return np.lib.stride_tricks.as_strided(array[view.offset:], view.shape,
                                               [st * itemsize for st in view.strides], writeable=False)
    out = np.zeros(view.shape, array.dtype)
    if all(lo < hi for lo, hi in view.mask):
        start = view.offset + sum(lo * st for (lo, _), st in zip(view.mask, view.strides))
        box = tuple(slice(lo, hi) for lo, hi in view.mask)
        out[box] = np.lib.stride_tricks.as_strided(array[start:], [hi - lo for lo, hi in view.mask],
                                                   [st * itemsize for st in view.strides], writeable=False)
    return out


def run_numpy(kernel: Kernel, out: np.ndarray, inputs: list[np.ndarray]) -> None:
    flat = [a.reshape(-1) for a in inputs]
    vals = []
    for op, dtype, srcs, arg in kernel.code:
        if op == "LOAD":
            vals.append(_np_view(flat[arg[0]], arg[1]))
        elif op == "CONST":
            value, view = arg
            full = np.full(view.shape, value, dtype)
            vals.append(full if view.mask is None else _np_view(np.full(1, value, dtype), View(
                view.shape, (0,) * len(view.shape), 0, view.mask)))
        elif op == "CAST":
            vals.append(np.asarray(vals[srcs[0]]).astype(dtype))
        else:
            with np.errstate(all="ignore"):
                vals.append(np.asarray(_NP_OPS[op](*(vals[s] for s in srcs))).astype(dtype, copy=False))
    result = vals[-1]
    if kernel.reduce:
        ufunc = np.add if kernel.reduce == "SUM" else np.maximum
        if math.prod(kernel.shape) == 0:
            out[...] = 0 if kernel.reduce == "SUM" else _lowest(out.dtype)
            return
        result = ufunc.reduce(np.broadcast_to(result, kernel.shape), axis=kernel.axes, keepdims=True)
    out[...] = np.broadcast_to(result, out.shape).astype(out.dtype, copy=False)


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min if dtype.kind == "i" else False


# ---- backend 2: generated C -----------------------------------------------------------------------
_C_TYPES = {"float32": "float", "int32": "int32_t", "bool": "unsigned char"}
_C_UNARY = {"NEG": "(-{0})", "EXP": "expf({0})", "LOG": "logf({0})", "SQRT": "sqrtf({0})", "SIN": "sinf({0})",
            "RECIP": "(1.0f/{0})"}
_C_BINARY = {"ADD": "({0}+{1})", "MUL": "({0}*{1})", "MAX": "(({0}>{1})?{0}:{1})", "CMPLT": "({0}<{1})",
             "CMPNE": "({0}!={1})", "WHERE": "({0}?{1}:{2})"}


def c_literal(value, dtype: str) -> str:
    if dtype == "float32":
        value = float(np.float32(value))
        if math.isnan(value):
            return "NAN"
        if math.isinf(value):
            return "INFINITY" if value > 0 else "(-INFINITY)"
        return repr(value) + "f"
    return str(int(value))


def _index(view: View, names) -> tuple[str, str | None]:
    """C expressions for the flat index and the validity (None: always valid) of a view."""
    terms = [f"{n}*{st}" if st != 1 else n for n, st, s in zip(names, view.strides, view.shape)
             if st and s != 1 and n != "0"]
    index = " + ".join(terms + ([str(view.offset)] if view.offset or not terms else [])).replace("+ -", "- ")
    conds = []
    if view.mask is not None:
        for n, (lo, hi), s in zip(names, view.mask, view.shape):
            if (lo, hi) != (0, s):
                conds += [f"{n}>={lo}"] if lo > 0 else []
                conds += [f"{n}<{hi}"] if hi < s else []
                conds += ["0"] if lo >= hi else []
    return index, " && ".join(conds) or None


def loop_order(kernel: Kernel) -> list[int]:
    """The loop nest's axes, outermost first: the axes along which most accesses are contiguous
    (stride 0 or 1) go innermost, where the compiler vectorises them."""
    views = [ins[3][1] for ins in kernel.code if ins[0] == "LOAD"] + [_out_view(kernel)]

    def cost(axis):
        return sum(0 if v.strides[axis] == 0 else 1 if abs(v.strides[axis]) == 1 else 4 for v in views)

    axes = [a for a, s in enumerate(kernel.shape) if s != 1]
    return sorted(axes, key=lambda a: (-cost(a), a))


def _out_view(kernel: Kernel) -> View:
    strides = contiguous_strides(kernel.out.shape)
    return View(kernel.shape, tuple(0 if a in kernel.axes else st for a, st in enumerate(strides)))


def _kernel_lines(kernel: Kernel, out: str, bufs: list[str], outer: tuple[int, str] | None = None,
                  rows: frozenset = frozenset()) -> list[str]:
    """The C statements of one kernel: its loop nest (without the loop over axis outer[0], whose index
    is the variable outer[1], when the kernel shares that loop with others) and its body. The arrays
    named in `rows` hold only the current row: they are indexed without the outer loop's term."""
    names = [f"i{a}" if s != 1 else "0" for a, s in enumerate(kernel.shape)]
    order = loop_order(kernel)
    in_row = names
    if outer is not None:
        names[outer[0]] = outer[1]
        in_row = [n if a != outer[0] else "0" for a, n in enumerate(names)]
        order = [a for a in order if a != outer[0]]
    out_t = _C_TYPES[_NAME[kernel.out.dtype]]
    inner = [a for a in order if a in kernel.axes]
    in_register = kernel.reduce is not None and order[len(order) - len(inner):] == inner
    out_index, _ = _index(_out_view(kernel), in_row if out in rows else names)
    init = "0" if kernel.reduce == "SUM" else c_literal(_lowest(kernel.out.dtype), _NAME[kernel.out.dtype])
    lines, indent = [], ""
    if kernel.reduce and not in_register:
        lines.append(f"for (int64_t i = 0; i < {math.prod(kernel.out.shape)}; i++) {out}[i] = {init};")
    for axis in order:
        if in_register and inner and axis == inner[0]:
            lines.append(f"{indent}{out_t} acc = {init};")
        if in_register and inner and axis == inner[-1]:     # lets the compiler vectorise a max, too
            lines.append(f"{indent}#pragma omp simd reduction({'+' if kernel.reduce == 'SUM' else 'max'}:acc)")
        lines.append(f"{indent}for (int64_t i{axis} = 0; i{axis} < {kernel.shape[axis]}; i{axis}++) {{")
        indent += "  "
    if in_register and not inner:                  # no reduced axis left to loop over
        lines.append(f"{indent}{out_t} acc = {init};")
    for i, (op, dtype, srcs, arg) in enumerate(kernel.code):
        ctype, v = _C_TYPES[dtype], [f"v{s}" for s in srcs]
        if op in ("LOAD", "CONST"):
            index, valid = _index(arg[1], in_row if op == "LOAD" and bufs[arg[0]] in rows else names)
            value = f"{bufs[arg[0]]}[{index}]" if op == "LOAD" else c_literal(arg[0], dtype)
            expr = f"({valid}) ? {value} : 0" if valid else value
        elif op == "CAST":
            expr = f"({ctype})({v[0]}{' != 0' if dtype == 'bool' else ''})"
        elif op in _C_UNARY:
            expr = _C_UNARY[op].format(*v)
        else:
            expr = _C_BINARY[op].format(*v)
        lines.append(f"{indent}{ctype} v{i} = {expr};")
    last, acc = f"v{len(kernel.code) - 1}", "acc" if in_register else f"{out}[{out_index}]"
    if kernel.reduce == "SUM":
        lines.append(f"{indent}{acc} += {last};")
    elif kernel.reduce == "AMAX":
        lines.append(f"{indent}{acc} = ({acc} > {last}) ? {acc} : {last};")
    else:
        lines.append(f"{indent}{out}[{out_index}] = {last}{' != 0' if out_t == 'unsigned char' else ''};")
    if in_register and not inner:
        lines.append(f"{indent}{out}[{out_index}] = acc;")
    for axis in reversed(order):
        indent = indent[:-2]
        lines.append(f"{indent}}}")
        if in_register and inner and axis == inner[0]:
            lines.append(f"{indent}{out}[{out_index}] = acc;")
    return lines


def render_c(kernel: Kernel, name: str) -> str:
    """The kernel as a C function: a loop nest whose body is one line per instruction. A reduce
    whose axes are the innermost loops accumulates in a register; otherwise into `out` itself."""
    args = [f"{_C_TYPES[_NAME[kernel.out.dtype]]}* restrict out"] + \
        [f"const {_C_TYPES[_NAME[b.dtype]]}* restrict b{i}" for i, b in enumerate(kernel.bufs)]
    body = _kernel_lines(kernel, "out", [f"b{i}" for i in range(len(kernel.bufs))])
    return "\n".join([f"void {name}({', '.join(args)}) {{", *("  " + line for line in body), "}"])


# ---- loop fusion across kernels: one pass over the rows -----------------------------------------
def _outer(kernel: Kernel):
    """(axis, size) of the kernel's outermost loop, if it may be shared: not reduced, and the first
    axis of the output that is bigger than 1 (so iteration r writes one contiguous block of `out`)."""
    order = loop_order(kernel)
    if not order or order[0] in kernel.axes:
        return None
    axis = order[0]
    if any(s != 1 for s in kernel.out.shape[:axis]):
        return None
    inner = [a for a in order if a in kernel.axes]
    if kernel.reduce and order[len(order) - len(inner):] != inner:
        return None                                  # accumulates in memory: needs the whole output zeroed first
    return axis, kernel.shape[axis]


def group_kernels(kernels) -> list[list[Kernel]]:
    """Consecutive kernels that loop over the same rows, each reading the earlier ones' outputs only
    in the row it is on, run as one loop over rows (softmax's four kernels read x from memory once,
    not twice: each row stays in the cache). The kernels, their outputs and results are
    unchanged; only the C backend uses this."""
    groups = []
    for k in kernels:
        if groups and _joins(groups[-1], k):
            groups[-1].append(k)
        else:
            groups.append([k])
    return groups


def _joins(group, k) -> bool:
    mine, first = k.outer, group[0].outer
    if mine is None or first is None or mine[1] != first[1]:
        return False
    made = {id(g.out): g for g in group}
    for ins in k.code:
        if ins[0] == "LOAD" and id(k.bufs[ins[3][0]]) in made:
            producer, view = made[id(k.bufs[ins[3][0]])], ins[3][1]
            row = contiguous_strides(producer.out.shape)[producer.outer[0]] or 1
            rest = sum((n - 1) * st for a, (n, st) in enumerate(zip(view.shape, view.strides)) if a != mine[0])
            if view.strides[mine[0]] != row or view.offset or view.mask is not None or \
                    any(st < 0 for st in view.strides) or rest >= row:
                return False
    return True


def render_group(group, name: str, rows: dict | None = None) -> tuple[str, list]:
    """(C source, external input buffers) of kernels that share their outermost loop. The outputs of
    the kernels numbered in `rows` (see row_buffers) hold one row (t0, t1, ...): each iteration overwrites them,
    and the kernels after them in the group read them while they are still in the cache. A buffer
    is an argument of its own, or (rows[j] = c) the current row of kernel c's output."""
    rows = rows or {}
    outs = {id(k.out): f"t{j}" if j in rows else f"o{j}" for j, k in enumerate(group)}
    external: dict[int, tuple[str, LazyBuffer]] = {}
    for k in group:
        for b in k.bufs:
            if id(b) not in outs and id(b) not in external:
                external[id(b)] = (f"b{len(external)}", b)
    args = [f"{_C_TYPES[_NAME[k.out.dtype]]}* restrict {outs[id(k.out)]}" for j, k in enumerate(group)
            if rows.get(j) is None] + \
        [f"const {_C_TYPES[_NAME[b.dtype]]}* restrict {n}" for n, b in external.values()]
    lines = [f"void {name}({', '.join(args)}) {{", f"  for (int64_t r = 0; r < {group[0].outer[1]}; r++) {{"]
    lines += [f"    {_C_TYPES[_NAME[group[j].out.dtype]]}* t{j} = o{c} + r*{_row_size(group[c])};"
              for j, c in rows.items() if c is not None]
    local = frozenset(f"t{j}" for j in rows)
    for k in group:
        bufs = [outs.get(id(b)) or external[id(b)][0] for b in k.bufs]
        body = _kernel_lines(k, outs[id(k.out)], bufs, (k.outer[0], "r"), local)
        lines += ["    {"] + ["      " + line for line in body] + ["    }"]
    lines += ["  }", "}"]
    return "\n".join(lines), [b for _, b in external.values()]


C_HEADER = "#include <math.h>\n#include <stdint.h>\n"
# gcc vectorises loops over these only when told that libmvec (glibc) has SIMD versions of them.
SIMD_DECLS = "".join(f'__attribute__((simd("notinbranch"))) float {f}(float);\n' for f in ("expf", "logf", "sinf"))
C_FLAGS = ["-shared", "-fPIC", "-O3", "-march=native", "-fno-math-errno", "-fassociative-math",
           "-fno-signed-zeros", "-fno-trapping-math", "-ffp-contract=fast", "-fopenmp-simd"]


class Compiler:
    """The system C compiler, found once: CC if set, else cc, gcc, clang. Kernels are compiled in
    batches (one compiler run per realize), cached on disk by a hash of their source, loaded with
    ctypes."""

    def __init__(self, cache: Path | None = None):
        self.cache = cache or _kernel_cache()
        self.cc, self.simd, self.problem = None, False, None
        self.loaded: dict[str, ctypes._CFuncPtr] = {}
        candidates = [os.environ["CC"]] if os.environ.get("CC") else ["cc", "gcc", "clang"]
        found = [shutil.which(c) for c in candidates if shutil.which(c)]
        if not found:
            self.problem = f"no C compiler found (looked for {', '.join(candidates)} on PATH)"
            return
        self.cc = found[0]
        probe = "float probe(float x) { return expf(x); }\n"
        try:
            self._build(C_HEADER + SIMD_DECLS + probe, extra=["-lmvec"])
            self.simd = True
        except RuntimeError:
            try:
                self._build(C_HEADER + probe)
            except RuntimeError as exc:
                self.problem = f"the C compiler {self.cc} cannot build a shared library ({exc})"
                self.cc = None

    def _build(self, source: str, extra=()) -> Path:
        flags = [*C_FLAGS, *extra]
        digest = hashlib.sha256("\0".join([self.cc, *flags, source]).encode()).hexdigest()[:24]
        lib = self.cache / f"k_{digest}.so"
        if lib.exists():
            return lib
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            src, tmp_lib = Path(tmp) / "k.c", Path(tmp) / "k.so"
            src.write_text(source)
            done = subprocess.run([self.cc, *C_FLAGS, "-o", str(tmp_lib), str(src), "-lm", *extra],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{self.cc} failed: {done.stderr.strip()[:2000]}")
            os.replace(tmp_lib, lib)          # atomic: another process may be compiling the same kernel
        return lib

    def functions(self, sources: dict[str, str]) -> dict[str, ctypes._CFuncPtr]:
        """name -> callable for C functions named by their source's hash; compiles the missing ones
        together."""
        missing = {name: src for name, src in sources.items() if name not in self.loaded}
        if missing:
            header = C_HEADER + (SIMD_DECLS if self.simd else "")
            lib = ctypes.CDLL(str(self._build(header + "\n".join(missing.values()),
                                              extra=["-lmvec"] if self.simd else [])))
            for name in missing:
                fn = getattr(lib, name)
                fn.restype = None
                self.loaded[name] = fn
        return {name: self.loaded[name] for name in sources}


def _kernel_cache() -> Path:
    from .data import cache_dir

    return cache_dir() / "kernels"


# ---- running a schedule ---------------------------------------------------------------------------
class Backend:
    """Which backend runs kernels: "c" (generated C) where a compiler works, else "numpy"."""
    name: str | None = os.environ.get("COURSE_TENSOR_BACKEND") or None
    compiler: Compiler | None = None
    noticed = False
    sources: dict[tuple, tuple[str, str]] = {}          # kernel.key() -> (function name, C source)


def backend() -> str:
    if Backend.name is None:
        Backend.name = "c" if _compiler().cc else "numpy"
    if Backend.name == "c" and not _compiler().cc:
        if not Backend.noticed:
            warnings.warn(f"course_lib.lazy: {_compiler().problem}; running kernels with the numpy backend "
                          f"instead (slower, same results). Install gcc or clang, or set CC, for compiled kernels.",
                          RuntimeWarning, stacklevel=3)
            Backend.noticed = True
        return "numpy"
    return Backend.name


def set_backend(name: str) -> None:
    """"c" or "numpy" for every later realize."""
    if name not in ("c", "numpy"):
        raise ValueError(f"unknown backend {name!r}: use 'c' (generated C kernels) or 'numpy'")
    Backend.name = name


@contextlib.contextmanager
def use_backend(name: str):
    old = Backend.name
    set_backend(name)
    try:
        yield
    finally:
        Backend.name = old


def _compiler() -> Compiler:
    if Backend.compiler is None:
        Backend.compiler = Compiler()
    return Backend.compiler


def kernel_source(kernel: Kernel) -> tuple[str, str]:
    """(function name, C source) of a kernel, named after the hash of what the code depends on."""
    key = kernel.key()
    if key not in Backend.sources:
        name = "k_" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        Backend.sources[key] = (name, render_c(kernel, name))
    return Backend.sources[key]


def _group_source(group, rows=None) -> tuple[str, str, list]:
    """(function name, C source, external inputs) of a group of kernels sharing their row loop."""
    made = {id(k.out): j for j, k in enumerate(group)}
    key = ("group", tuple(sorted((rows or {}).items()))) + \
        tuple((k.key(), tuple(made.get(id(b)) for b in k.bufs)) for k in group)
    if key not in Backend.sources:
        name = "g_" + hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        Backend.sources[key] = (name, render_group(group, name, rows)[0])
    return (*Backend.sources[key], render_group_inputs(group))


def row_buffers(groups) -> list[dict]:
    """For each group, {j: where kernel j's output lives} for the scratch values (see Kernel) that
    only kernels of the same group read: one row of their own (None), or the current row of the
    output of kernel c (c), when c is the last kernel to read the value and reads each number
    exactly where it writes its own, so that it reads a number before overwriting it (PyTorch's
    softmax divides its output in place the same way)."""
    readers: dict[int, set] = {}
    for g, group in enumerate(groups):
        for k in group:
            for b in k.bufs:
                readers.setdefault(id(b), set()).add(g)
    out = []
    for g, group in enumerate(groups):
        local = [j for j, k in enumerate(group) if len(group) > 1 and k.scratch and readers[id(k.out)] <= {g}]
        rows = {}
        for j in local:
            users = [c for c, k in enumerate(group) if any(b is group[j].out for b in k.bufs)]
            c = users[-1]
            host = group[c]
            in_place = host.reduce is None and c not in local and c not in rows.values() and \
                host.out.shape == group[j].out.shape and host.out.dtype == group[j].out.dtype and \
                all(ins[3][1] == View.contiguous(host.shape) for ins in host.code
                    if ins[0] == "LOAD" and host.bufs[ins[3][0]] is group[j].out)
            rows[j] = c if in_place else None
        out.append(rows)
    return out


def render_group_inputs(group) -> list:
    outs, seen, external = {id(k.out) for k in group}, set(), []
    for k in group:
        for b in k.bufs:
            if id(b) not in outs and id(b) not in seen:
                seen.add(id(b))
                external.append(b)
    return external


def run_schedule(kernels) -> None:
    """Compute every kernel's output, in order, into a new array attached to its LazyBuffer."""
    if backend() == "numpy":
        for k in kernels:
            out = np.empty(k.out.shape, k.out.dtype)
            run_numpy(k, out, [b.realized for b in k.bufs])
            _done(k, out)
        return
    groups = group_kernels(kernels)
    rows = row_buffers(groups)
    named = [kernel_source(g[0]) + (g[0].bufs,) if len(g) == 1 else _group_source(g, r) for g, r in zip(groups, rows)]
    functions = _compiler().functions({name: src for name, src, _ in named})
    for group, local, (name, _, inputs) in zip(groups, rows, named):
        outs = [np.empty(_row_size(k) if j in local else k.out.shape, k.out.dtype) for j, k in enumerate(group)]
        args = [out for j, out in enumerate(outs) if local.get(j) is None] + [b.realized for b in inputs]
        functions[name](*(ctypes.c_void_p(a.ctypes.data) for a in args))
        for j, (k, out) in enumerate(zip(group, outs)):
            if j not in local:           # a row buffer holds only the last row: the value stays unrealized
                _done(k, out)


def _row_size(kernel: Kernel) -> int:
    axis = kernel.outer[0]
    return math.prod(kernel.out.shape[axis + 1:])


def _done(kernel: Kernel, out: np.ndarray) -> None:
    kernel.out.realized = out
    if kernel.out.op == "DETACH":       # a detached value keeps no history: drop the graph below it
        kernel.out.op, kernel.out.src = "BUFFER", ()


def unviewed(node: LazyBuffer) -> LazyBuffer:
    """The computed node below a chain of reshapes and detaches: realizing it realizes them too, as
    numpy views of its array (a reshape of a contiguous array copies nothing)."""
    while node.realized is None and node.op in ("RESHAPE", "DETACH"):
        src = node.src[0]
        if src.realized is None and src.op not in UNARY + BINARY + REDUCE + ("RESHAPE", "DETACH"):
            break
        node = src
    return node


def realize(outs) -> None:
    """Compute the LazyBuffers `outs`. An output that only reshapes (or detaches) a computed value
    is that value's array, viewed: no kernel copies it."""
    bases = [unviewed(o) for o in outs]
    run_schedule(create_schedule(bases))
    for out, base in zip(outs, bases):
        if out.realized is None:
            out.realized = base.realized.reshape(out.shape)
        if out.op == "DETACH":
            out.op, out.src = "BUFFER", ()


__all__ = ["LazyBuffer", "View", "Kernel", "create_schedule", "print_schedule", "run_schedule", "realize",
           "render_c", "set_backend", "use_backend", "backend", "KIND", "toposort"]
