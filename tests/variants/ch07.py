"""Variants of the ch07 answers: other correct answers pass every test; plausible mistakes fail a test at
or after their part; each part's headline mistake fails the part's visible test with a message that
names it.
"""

# ---- Part 1: unbroadcast ---------------------------------------------------------------------------------
_UNBROADCAST = "def unbroadcast(grad, shape):\n    grad = np.asarray(grad)\n{body}\n"


def _ub(body):
    return _UNBROADCAST.format(body="\n".join("    " + line for line in body.strip("\n").split("\n")))


UNBROADCAST_RIGHT = [
    _ub("""
while grad.ndim > len(shape):
    grad = grad.sum(axis=0)
for i, n in enumerate(shape):
    if n == 1 and grad.shape[i] != 1:
        grad = grad.sum(axis=i, keepdims=True)
return grad
"""),
    _ub("""
padded = (1,) * (grad.ndim - len(shape)) + tuple(shape)
axes = tuple(i for i, (p, g) in enumerate(zip(padded, grad.shape)) if p == 1 and g != 1)
return grad.sum(axis=axes, keepdims=True).reshape(shape)
"""),
]

UNBROADCAST_WRONG = [
    ("returns grad unchanged", _ub("return grad")),
    ("sums the leading axes only", _ub("""
extra = grad.ndim - len(shape)
return grad.sum(axis=tuple(range(extra))) if extra else grad
""")),
    ("sums the size-1 axes only", _ub("""
axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
return grad.sum(axis=axes, keepdims=True) if axes else grad
""")),
    ("sums the size-1 axes without keeping them", _ub("""
extra = grad.ndim - len(shape)
grad = grad.sum(axis=tuple(range(extra))) if extra else grad
axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
return grad.sum(axis=axes) if axes else grad
""")),
    ("keeps the leading axes as size 1", _ub("""
padded = (1,) * (grad.ndim - len(shape)) + tuple(shape)
axes = tuple(i for i, (p, g) in enumerate(zip(padded, grad.shape)) if p == 1 and g != 1)
return grad.sum(axis=axes, keepdims=True)
""")),
    ("means instead of sums", _ub("""
padded = (1,) * (grad.ndim - len(shape)) + tuple(shape)
axes = tuple(i for i, (p, g) in enumerate(zip(padded, grad.shape)) if p == 1 and g != 1)
return grad.mean(axis=axes, keepdims=True).reshape(shape)
""")),
    ("the total sum everywhere", _ub("return np.full(shape, grad.sum(), dtype=np.float32)")),
    ("aligns the shapes on the left", _ub("""
grad = grad.sum(axis=tuple(range(len(shape), grad.ndim))) if grad.ndim > len(shape) else grad
axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
return grad.sum(axis=axes, keepdims=True) if axes else grad
""")),
    ("takes the first copy instead of the sum", _ub("""
while grad.ndim > len(shape):
    grad = grad[0]
for i, n in enumerate(shape):
    if n == 1 and grad.shape[i] != 1:
        grad = grad.take([0], axis=i)
return grad
""")),
]

# ---- Part 2: Sum and Max backward ------------------------------------------------------------------------
_REDUCE = '''
class Sum(Function):
    def forward(self, x, axis, keepdim):
        self.in_shape, self.axis, self.keepdim = x.shape, axis, keepdim
        return x.sum(axis=axis, keepdims=keepdim)

    def backward(self, grad):
{sum_bw}


class Max(Function):
    def forward(self, x, axis, keepdim):
        self.x, self.axis, self.keepdim = x, axis, keepdim
        self.out = x.max(axis=axis, keepdims=True)
        return self.out if keepdim else self.out.reshape([n for i, n in enumerate(x.shape) if i not in axis])

    def backward(self, grad):
{max_bw}
'''
_SUM_OK = """g = grad if self.keepdim else np.expand_dims(grad, self.axis)
return (np.broadcast_to(g, self.in_shape).copy(),)"""
_MAX_OK = """g = grad if self.keepdim else np.expand_dims(grad, self.axis)
hit = (self.x == self.out).astype(np.float32)
return (hit * g / hit.sum(axis=self.axis, keepdims=True),)"""


def _indent(code, n=8):
    return "\n".join(" " * n + line for line in code.strip("\n").split("\n"))


def _reduce(sum_bw=_SUM_OK, max_bw=_MAX_OK):
    return _REDUCE.format(sum_bw=_indent(sum_bw), max_bw=_indent(max_bw))


REDUCE_RIGHT = [
    _reduce(sum_bw="""
kept = [1 if i in self.axis else n for i, n in enumerate(self.in_shape)]
return (np.ones(self.in_shape, np.float32) * np.reshape(grad, kept),)
""", max_bw="""
kept = [1 if i in self.axis else n for i, n in enumerate(self.x.shape)]
hit = self.x == self.x.max(axis=self.axis, keepdims=True)
return (np.where(hit, np.reshape(grad, kept) / hit.sum(axis=self.axis, keepdims=True), 0.0),)
"""),
    _reduce(sum_bw="""
g = np.asarray(grad)
if not self.keepdim:
    for a in self.axis:
        g = np.expand_dims(g, a)
reps = [n if i in self.axis else 1 for i, n in enumerate(self.in_shape)]
return (np.tile(g, reps),)
""", max_bw="""
g = grad if self.keepdim else np.expand_dims(grad, self.axis)
share = np.equal(self.x, self.out) / np.equal(self.x, self.out).sum(axis=self.axis, keepdims=True)
return (share * g,)
"""),
]

REDUCE_WRONG = [
    ("Sum: broadcast without restoring the axes", _reduce(sum_bw="return (np.broadcast_to(grad, self.in_shape).copy(),)")),
    ("Sum: ones, ignoring the upstream gradient", _reduce(sum_bw="return (np.ones(self.in_shape, np.float32),)")),
    ("Sum: divides by the number of elements summed", _reduce(sum_bw="""
g = grad if self.keepdim else np.expand_dims(grad, self.axis)
count = np.prod([self.in_shape[a] for a in self.axis])
return (np.broadcast_to(g / count, self.in_shape).copy(),)
""")),
    ("Sum: grad unchanged", _reduce(sum_bw="return (grad,)")),
    ("Sum: returns an array, not a tuple", _reduce(sum_bw="""
g = grad if self.keepdim else np.expand_dims(grad, self.axis)
return np.broadcast_to(g, self.in_shape).copy()
""")),
    ("Max: the gradient to every element", _reduce(max_bw="""
g = grad if self.keepdim else np.expand_dims(grad, self.axis)
return (np.broadcast_to(g, self.x.shape).copy(),)
""")),
    ("Max: the first maximum only", _reduce(max_bw="""
g = grad if self.keepdim else np.expand_dims(grad, self.axis)
hit = (self.x == self.out)
first = np.zeros_like(hit)
moved = np.moveaxis(hit, self.axis, tuple(range(-len(self.axis), 0)))
flat = moved.reshape(moved.shape[:moved.ndim - len(self.axis)] + (-1,))
pick = np.zeros_like(flat)
np.put_along_axis(pick, flat.argmax(-1)[..., None], True, axis=-1)
first = np.moveaxis(pick.reshape(moved.shape), tuple(range(-len(self.axis), 0)), self.axis)
return (first * g,)
""")),
    ("Max: every tied maximum gets the whole gradient", _reduce(max_bw="""
g = grad if self.keepdim else np.expand_dims(grad, self.axis)
return ((self.x == self.out) * g,)
""")),
    ("Max: the shares, without the upstream gradient", _reduce(max_bw="""
hit = (self.x == self.out).astype(np.float32)
return (hit / hit.sum(axis=self.axis, keepdims=True),)
""")),
    ("Max: keepdim ignored", _reduce(max_bw="""
hit = (self.x == self.out).astype(np.float32)
return (hit * grad / hit.sum(axis=self.axis, keepdims=True),)
""")),
]

# ---- Part 3: movement backward ---------------------------------------------------------------------------
_MOVEMENT = '''
class Reshape(Function):
    def forward(self, x, shape):
        self.in_shape = x.shape
        return x.reshape(shape)

    def backward(self, grad):
{reshape}


class Permute(Function):
    def forward(self, x, order):
        self.order = order
        return x.transpose(order)

    def backward(self, grad):
{permute}


class Expand(Function):
    def forward(self, x, shape):
        self.in_shape = x.shape
        return np.broadcast_to(x, shape)

    def backward(self, grad):
{expand}


class Pad(Function):
    def forward(self, x, pads):
        self.pads = pads
        return np.pad(x, pads)

    def backward(self, grad):
{pad}


class Shrink(Function):
    def forward(self, x, arg):
        self.in_shape, self.arg = x.shape, arg
        return x[tuple(slice(s, e) for s, e in arg)]

    def backward(self, grad):
{shrink}


class Flip(Function):
    def forward(self, x, axes):
        self.axes = axes
        return np.flip(x, axes)

    def backward(self, grad):
{flip}
'''
_MOVE_OK = {
    "reshape": "return (grad.reshape(self.in_shape),)",
    "permute": "return (grad.transpose(np.argsort(self.order)),)",
    "expand": "return (unbroadcast(grad, self.in_shape),)",
    "pad": "return (grad[tuple(slice(b, n - a) for (b, a), n in zip(self.pads, grad.shape))],)",
    "shrink": "return (np.pad(grad, [(s, n - e) for (s, e), n in zip(self.arg, self.in_shape)]),)",
    "flip": "return (np.flip(grad, self.axes),)",
}


def _movement(**changes):
    return _MOVEMENT.format(**{k: _indent(changes.get(k, v)) for k, v in _MOVE_OK.items()})


MOVEMENT_RIGHT = [
    _movement(permute="""
inverse = [0] * len(self.order)
for i, o in enumerate(self.order):
    inverse[o] = i
return (np.transpose(grad, inverse),)
""", shrink="""
g = np.zeros(self.in_shape, np.float32)
g[tuple(slice(s, e) for s, e in self.arg)] = grad
return (g,)
""", flip="""
index = [slice(None)] * grad.ndim
for a in self.axes:
    index[a] = slice(None, None, -1)
return (grad[tuple(index)].copy(),)
""", reshape="return (np.reshape(grad, self.in_shape),)"),
    _movement(expand="""
g = np.asarray(grad)
while g.ndim > len(self.in_shape):
    g = g.sum(axis=0)
for i, n in enumerate(self.in_shape):
    if n == 1:
        g = g.sum(axis=i, keepdims=True)
return (g,)
""", pad="""
index = tuple(slice(b, b + n) for (b, _), n in zip(self.pads, np.subtract(grad.shape, [b + a for b, a in self.pads])))
return (grad[index].copy(),)
"""),
]

MOVEMENT_WRONG = [
    ("Permute: the same order again", _movement(permute="return (grad.transpose(self.order),)")),
    ("Permute: reversed axes", _movement(permute="return (grad.transpose(),)")),
    ("Reshape: grad unchanged", _movement(reshape="return (grad,)")),
    ("Expand: grad unchanged, not unbroadcast", _movement(expand="return (grad,)")),
    ("Expand: the total sum", _movement(expand="return (np.full(self.in_shape, grad.sum(), np.float32),)")),
    ("Pad: pads again instead of cutting", _movement(pad="return (np.pad(grad, self.pads),)")),
    ("Pad: cuts the wrong sides", _movement(
        pad="return (grad[tuple(slice(a, n - b) for (b, a), n in zip(self.pads, grad.shape))],)")),
    ("Shrink: pads only at the end", _movement(
        shrink="return (np.pad(grad, [(0, n - (e - s)) for (s, e), n in zip(self.arg, self.in_shape)]),)")),
    ("Shrink: grad unchanged", _movement(shrink="return (grad,)")),
    ("Flip: grad unchanged", _movement(flip="return (grad,)")),
    ("Flip: every axis", _movement(flip="return (np.flip(grad),)")),
]

# ---- Part 4: matmul --------------------------------------------------------------------------------------
_MATMUL = "def matmul(a, b):\n{body}\n"


def _mm(body):
    return _MATMUL.format(body=_indent(body, 4))


MATMUL_RIGHT = [
    _mm("""
K, N = b.shape[-2], b.shape[-1]
order = list(range(b.ndim))
order[-1], order[-2] = order[-2], order[-1]
bt = b.permute(*order)                               # (..., N, K)
x = a.reshape(*a.shape[:-1], 1, a.shape[-1])         # (..., M, 1, K)
w = bt.reshape(*bt.shape[:-2], 1, N, K)              # (..., 1, N, K)
return (x * w).sum(axis=-1)
"""),
    _mm("""
M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
a3 = a.reshape(*a.shape, 1).expand(*batch, M, K, N)
b3 = b.reshape(*b.shape[:-2], 1, K, N).expand(*batch, M, K, N)
return (a3 * b3).sum(axis=len(batch) + 1)
"""),
]

MATMUL_WRONG = [
    ("sums over J, the last axis", _mm("return (a.reshape(*a.shape, 1) * b.reshape(*b.shape[:-2], 1, *b.shape[-2:])).sum(axis=-1)")),
    ("sums over I", _mm("return (a.reshape(*a.shape, 1) * b.reshape(*b.shape[:-2], 1, *b.shape[-2:])).sum(axis=-3)")),
    ("a laid out as (I, 1, R)", _mm("return (a.reshape(*a.shape[:-1], 1, a.shape[-1]) * b.reshape(*b.shape[:-2], 1, *b.shape[-2:])).sum(axis=-1)")),
    ("the elementwise product", _mm("return a * b")),
    ("np.matmul: no graph to differentiate", _mm("return Tensor(np.matmul(a.data, b.data))")),
    ("b transposed", _mm("return (a.reshape(*a.shape, 1) * b.T.reshape(1, *b.shape[::-1])).sum(axis=-2)")),
    ("a mean over R", _mm("return (a.reshape(*a.shape, 1) * b.reshape(*b.shape[:-2], 1, *b.shape[-2:])).mean(axis=-2)")),
    ("the summed axis kept", _mm("return (a.reshape(*a.shape, 1) * b.reshape(*b.shape[:-2], 1, *b.shape[-2:])).sum(axis=-2, keepdim=True)")),
    ("b's batch axes dropped", _mm("return (a.reshape(*a.shape, 1) * b.reshape(1, b.shape[-2], b.shape[-1])).sum(axis=-2)")),
]

# ---- Part 5: log_softmax and cross_entropy ---------------------------------------------------------------
_LSM = '''
def log_softmax(x, axis=-1):
{lsm}


def cross_entropy(logits, labels):
{ce}
'''
_LSM_OK = """shifted = x - x.max(axis=axis, keepdim=True)
return shifted - shifted.exp().sum(axis=axis, keepdim=True).log()"""
_CE_OK = """labels = np.asarray(labels)
onehot = np.eye(logits.shape[-1], dtype=np.float32)[labels]
return -(log_softmax(logits, axis=-1) * onehot).sum(axis=-1).mean()"""


def _lsm(lsm=_LSM_OK, ce=_CE_OK):
    return _LSM.format(lsm=_indent(lsm, 4), ce=_indent(ce, 4))


LSM_RIGHT = [
    _lsm(lsm="""
m = x.max(axis=axis, keepdim=True)
return x - (m + (x - m).exp().sum(axis=axis, keepdim=True).log())
""", ce="""
n, c = logits.shape
onehot = (np.asarray(labels)[:, None] == np.arange(c)[None, :]).astype(np.float32)
return (log_softmax(logits) * onehot).sum() * (-1.0 / n)
"""),
    _lsm(lsm="""
m = x.max(axis=axis, keepdim=True)
e = (x + (-1.0) * m).exp()
return (x - m) - e.sum(axis=axis, keepdim=True).log()
""", ce="""
onehot = np.zeros(logits.shape, np.float32)
onehot[np.arange(len(labels)), labels] = 1.0
picked = (log_softmax(logits, axis=1) * onehot).sum(axis=1)
return -picked.mean()
"""),
]

LSM_WRONG = [
    ("no max subtraction: unstable", _lsm(lsm="return x - x.exp().sum(axis=axis, keepdim=True).log()")),
    ("subtracts the minimum", _lsm(lsm="""
shifted = x + x.max(axis=axis, keepdim=True) * 0 - (-x).max(axis=axis, keepdim=True) * -1
return shifted - shifted.exp().sum(axis=axis, keepdim=True).log()
""")),
    ("one max for the whole tensor", _lsm(lsm="""
shifted = x - x.max()
return shifted - shifted.exp().sum(axis=axis, keepdim=True).log()
""")),
    ("softmax, not its log", _lsm(lsm="""
shifted = x - x.max(axis=axis, keepdim=True)
return shifted.exp() / shifted.exp().sum(axis=axis, keepdim=True)
""")),
    ("the sum over axis 0", _lsm(lsm="""
shifted = x - x.max(axis=axis, keepdim=True)
return shifted - shifted.exp().sum(axis=0, keepdim=True).log()
""")),
    ("cross_entropy: a sum over the rows", _lsm(ce="""
onehot = np.eye(logits.shape[-1], dtype=np.float32)[np.asarray(labels)]
return -(log_softmax(logits) * onehot).sum()
""")),
    ("cross_entropy: no minus sign", _lsm(ce="""
onehot = np.eye(logits.shape[-1], dtype=np.float32)[np.asarray(labels)]
return (log_softmax(logits) * onehot).sum(axis=-1).mean()
""")),
    ("cross_entropy: a mean over every entry", _lsm(ce="""
onehot = np.eye(logits.shape[-1], dtype=np.float32)[np.asarray(labels)]
return -(log_softmax(logits) * onehot).mean()
""")),
    ("cross_entropy: softmax instead of log-softmax", _lsm(ce="""
onehot = np.eye(logits.shape[-1], dtype=np.float32)[np.asarray(labels)]
return -(log_softmax(logits).exp() * onehot).sum(axis=-1).mean()
""")),
]

# ---- Part 6: fuse ----------------------------------------------------------------------------------------
_FUSE_NEEDED = """needed, stack = set(), list(outputs)
while stack:
    name = stack.pop()
    if name not in needed:
        needed.add(name)
        stack.extend(graph[name][1])
"""


def _fuse(stored_rule, stop_rule, ops_order="[n for n in graph if n in ops]", kernel_order="kernels",
          include_out=True, needed=_FUSE_NEEDED):
    return "def fuse(graph, outputs):\n" + _indent(needed + f"""
stored = [n for n in graph if n in needed and ({stored_rule})]
kernels = []
for s in stored:
    ops, stack = {{s}}, list(graph[s][1])
    while stack:
        name = stack.pop()
        if name in ops or {stop_rule}:
            continue
        ops.add(name)
        stack.extend(graph[name][1])
    {"" if include_out else "ops.discard(s)"}
    kernels.append({{"out": s, "ops": {ops_order}}})
return {kernel_order}
""", 4) + "\n"


_STORED = 'n in outputs or graph[n][0] == "reduce"'
_STOP = 'graph[name][0] == "load" or name in stored'

FUSE_RIGHT = [
    '''
def fuse(graph, outputs):
    def needs(name, seen):
        if name not in seen:
            seen.add(name)
            for src in graph[name][1]:
                needs(src, seen)
        return seen

    needed = set().union(*(needs(o, set()) for o in outputs)) if outputs else set()
    stored = {n for n in needed if n in outputs or graph[n][0] == "reduce"}

    def fused(name, ops):
        for src in graph[name][1]:
            if graph[src][0] != "load" and src not in stored and src not in ops:
                ops.add(src)
                fused(src, ops)
        return ops

    return [{"out": s, "ops": [n for n in graph if n in fused(s, {s})]} for s in graph if s in stored]
''',
    '''
def fuse(graph, outputs):
    names = list(graph)
    needed = set(outputs)
    for name in reversed(names):
        if name in needed:
            needed.update(graph[name][1])
    stored = [n for n in names if n in needed and (n in outputs or graph[n][0] == "reduce")]
    kernels = []
    for s in stored:
        inside = {s}
        for name in reversed(names[:names.index(s)]):
            used_inside = any(name in graph[u][1] for u in inside)
            if used_inside and graph[name][0] != "load" and name not in stored:
                inside.add(name)
        kernels.append({"out": s, "ops": [n for n in names if n in inside]})
    return kernels
''',
]

FUSE_WRONG = [
    ("crosses reduces", _fuse(stored_rule="n in outputs", stop_rule='graph[name][0] == "load" or name in stored')),
    ("stores reduces but walks through them", _fuse(stored_rule=_STORED, stop_rule='graph[name][0] == "load"')),
    ("stores every node used twice", _fuse(
        stored_rule=_STORED + ' or sum(n in v[1] for v in graph.values()) > 1', stop_rule=_STOP)),
    ("loads listed among the ops", _fuse(stored_rule=_STORED, stop_rule="name in stored")),
    ("kernels in reverse order", _fuse(stored_rule=_STORED, stop_rule=_STOP, kernel_order="kernels[::-1]")),
    ("the output left out of its own kernel", _fuse(stored_rule=_STORED, stop_rule=_STOP, include_out=False)),
    ("ops in the order they were found", _fuse(stored_rule=_STORED, stop_rule=_STOP,
                                               ops_order="sorted(ops, key=list(graph).index, reverse=True)")),
    ("only the last output stored", _fuse(stored_rule='n == outputs[-1] or graph[n][0] == "reduce"', stop_rule=_STOP)),
    ("movement ops read from memory", _fuse(stored_rule=_STORED,
                                            stop_rule=_STOP + ' or graph[name][0] == "movement"')),
    ("kernels for reduces no output needs", _fuse(stored_rule=_STORED, stop_rule=_STOP,
                                                  needed="needed = set(graph)\n")),
]

# ---- Part 7: render_kernel -------------------------------------------------------------------------------
_PY_OPS = '''PY_OPS = {"neg": "-{0}", "exp": "math.exp({0})", "log": "math.log({0})", "tanh": "math.tanh({0})", "recip": "1 / {0}",
          "add": "{0} + {1}", "mul": "{0} * {1}", "max": "max({0}, {1})", "lt": "float({0} < {1})",
          "where": "({1} if {0} else {2})"}

'''


def _render(load="{offset} + {terms}", const="repr(float(args[0]))", position="contiguous", loops="all",
            op_expr="PY_OPS[op].format(*args)"):
    return _PY_OPS + f'''
def render_kernel(kernel):
    shape = tuple(kernel["shape"])
    idx = [f"i{{d}}" for d in range(len(shape))]
    lines = [f"def {{kernel['name']}}(out, {{', '.join(kernel['inputs'])}}):"]
    indent = "    "
    for d, n in enumerate(shape{'' if loops == 'all' else '[:1]'}):
        lines.append(f"{{indent}}for i{{d}} in range({{n}}):")
        indent += "    "
    first = next(iter(kernel["inputs"].values()))
    for name, op, *args in kernel["code"]:
        if op == "load":
            view = kernel["inputs"][args[0]]
            offset = view["offset"]
            terms = " + ".join(["0"] + [f"{{i}} * {{s}}" for i, s in zip(idx, view["strides"])])
            contiguous = " + ".join(["0"] + [f"{{i}} * {{math.prod(shape[d + 1:])}}" for d, i in enumerate(idx)])
            expr = f"{{args[0]}}[{load}]"
        elif op == "const":
            expr = {const}
        else:
            expr = {op_expr}
        lines.append(f"{{indent}}{{name}} = {{expr}}")
    if "{position}" == "contiguous":
        where = " + ".join(["0"] + [f"{{i}} * {{math.prod(shape[d + 1:])}}" for d, i in enumerate(idx)])
    else:
        where = " + ".join(["0"] + [f"{{i}} * {{s}}" for i, s in zip(idx, first["strides"])]) + f" + {{first['offset']}}"
    lines.append(f"{{indent}}out[{{where}}] = {{kernel['out']}}")
    return "\\n".join(lines) + "\\n"
'''


RENDER_RIGHT = [
    _PY_OPS + '''
def render_kernel(kernel):
    """One flat loop; each axis index recovered with divmod."""
    shape = [int(n) for n in kernel["shape"]]
    size = math.prod(shape)
    body = [f"def {kernel['name']}(out, {', '.join(kernel['inputs'])}):", f"    for flat in range({size}):",
            "        rest = flat"]
    for d in reversed(range(len(shape))):
        body.append(f"        rest, i{d} = divmod(rest, {shape[d]})")
    for name, op, *args in kernel["code"]:
        if op == "load":
            v = kernel["inputs"][args[0]]
            index = "+".join([str(v["offset"])] + [f"i{d}*({s})" for d, s in enumerate(v["strides"])])
            body.append(f"        {name} = {args[0]}[{index}]")
        elif op == "const":
            body.append(f"        {name} = {float(args[0])!r}")
        else:
            body.append(f"        {name} = " + PY_OPS[op].format(*args))
    body.append(f"        out[flat] = {kernel['out']}")
    return "\\n".join(body) + "\\n"
''',
    _PY_OPS + '''
def render_kernel(kernel):
    """itertools.product over the index space."""
    shape = tuple(kernel["shape"])
    lines = ["import itertools", "", f"def {kernel['name']}(out, {', '.join(kernel['inputs'])}):",
             f"    for position, index in enumerate(itertools.product(*[range(n) for n in {shape!r}])):"]
    for name, op, *args in kernel["code"]:
        if op == "load":
            v = kernel["inputs"][args[0]]
            lines.append(f"        {name} = {args[0]}[{v['offset']} + sum(i * s for i, s in zip(index, {tuple(v['strides'])!r}))]")
        elif op == "const":
            lines.append(f"        {name} = {float(args[0])}")
        else:
            lines.append(f"        {name} = {PY_OPS[op].format(*args)}")
    lines.append(f"        out[position] = {kernel['out']}")
    return "\\n".join(lines) + "\\n"
''',
]

RENDER_WRONG = [
    ("ignores strides", _render(load="{contiguous}")),
    ("ignores offsets", _render(load="{terms}")),
    ("stores at the first input's position", _render(position="first")),
    ("a constant as a string", _render(const="repr(str(args[0]))")),
    ("one loop only", _render(loops="first")),
    ("op names called as functions", _render(op_expr='f"{op}({\', \'.join(args)})"')),
    ("strides taken as absolute values", _render(
        load="{offset} + ' + '.join(['0'] + [f'{i} * {abs(s)}' for i, s in zip(idx, view['strides'])])")),
    ("the output never stored", _render().replace('    lines.append(f"{indent}out[{where}] = {kernel[\'out\']}")\n', "")),
    ("a scalar shape breaks", _render().replace('" + ".join(["0"] + [f"{i} * {math.prod(shape[d + 1:])}" for d, i in enumerate(idx)])\n    else',
                                                '" + ".join([f"{i} * {math.prod(shape[d + 1:])}" for d, i in enumerate(idx)])\n    else')),
]

# ---- Part 8: model_loss and train_step -------------------------------------------------------------------
_TRAIN = '''
def model_loss(params, X, y):
{loss}


def train_step(params, X, y, lr):
{step}
'''
_LOSS_OK = """h = (matmul(Tensor(X), params["W1"]) + params["b1"]).relu()
return cross_entropy(matmul(h, params["W2"]) + params["b2"], y)"""
_STEP_OK = """loss = model_loss(params, X, y)
for p in params.values():
    p.grad = None
loss.backward()
for p in params.values():
    p.data -= lr * p.grad
return float(loss.data)"""


def _train(loss=_LOSS_OK, step=_STEP_OK):
    return _TRAIN.format(loss=_indent(loss, 4), step=_indent(step, 4))


TRAIN_RIGHT = [
    _train(loss="""
logits = matmul((matmul(Tensor(X), params["W1"]) + params["b1"]).relu(), params["W2"]) + params["b2"]
onehot = np.eye(2, dtype=np.float32)[np.asarray(y)]
return -(log_softmax(logits, axis=1) * onehot).sum(axis=1).mean()
""", step="""
for p in params.values():
    p.grad = np.zeros_like(p.data)
loss = model_loss(params, X, y)
loss.backward()
for name in params:
    params[name].data = params[name].data - lr * params[name].grad
return loss.data.item()
"""),
    _train(step="""
loss = model_loss(params, X, y)
value = float(loss.data)
for p in params.values():
    p.grad = None
loss.backward()
for p in params.values():
    np.subtract(p.data, lr * p.grad, out=p.data)
return value
"""),
]

TRAIN_WRONG = [
    ("old gradients not cleared", _train(step=_STEP_OK.replace("for p in params.values():\n    p.grad = None\n", ""))),
    ("gradient ascent", _train(step=_STEP_OK.replace("p.data -= lr * p.grad", "p.data += lr * p.grad"))),
    ("the loss after the step returned", _train(step=_STEP_OK.replace("return float(loss.data)",
                                                                      "return float(model_loss(params, X, y).data)"))),
    ("a Tensor returned", _train(step=_STEP_OK.replace("return float(loss.data)", "return loss"))),
    ("no ReLU", _train(loss=_LOSS_OK.replace(".relu()", ""))),
    ("b2 forgotten", _train(loss=_LOSS_OK.replace(' + params["b2"]', ""))),
    ("the learning rate forgotten", _train(step=_STEP_OK.replace("p.data -= lr * p.grad", "p.data -= p.grad"))),
    ("gradients cleared after backward", _train(step="""
loss = model_loss(params, X, y)
loss.backward()
for p in params.values():
    p.data -= lr * (p.grad if p.grad is not None else 0)
    p.grad = None
return float(loss.data)
""")),
    ("the loss summed over the examples", _train(loss=_LOSS_OK.replace(
        'return cross_entropy(matmul(h, params["W2"]) + params["b2"], y)',
        'return cross_entropy(matmul(h, params["W2"]) + params["b2"], y) * float(len(y))'))),
]

RIGHT = {"unbroadcast": UNBROADCAST_RIGHT, "reduce_backward": REDUCE_RIGHT, "movement_backward": MOVEMENT_RIGHT,
         "matmul": MATMUL_RIGHT, "log_softmax": LSM_RIGHT, "fuse": FUSE_RIGHT, "render_kernel": RENDER_RIGHT,
         "train_step": TRAIN_RIGHT}
WRONG = {"unbroadcast": UNBROADCAST_WRONG, "reduce_backward": REDUCE_WRONG, "movement_backward": MOVEMENT_WRONG,
         "matmul": MATMUL_WRONG, "log_softmax": LSM_WRONG, "fuse": FUSE_WRONG, "render_kernel": RENDER_WRONG,
         "train_step": TRAIN_WRONG}
HEADLINE = {
    "unbroadcast": ("returns grad unchanged", "forgetting to unbroadcast"),
    "reduce_backward": ("Sum: broadcast without restoring the axes", "wrong axis"),
    "movement_backward": ("Permute: the same order again", "inverse"),
    "matmul": ("sums over J, the last axis", "wrong axis"),
    "log_softmax": ("no max subtraction: unstable", "numerically stable"),
    "fuse": ("crosses reduces", "must not cross"),
    "render_kernel": ("ignores strides", "strides"),
    "train_step": ("old gradients not cleared", "clear"),
}
