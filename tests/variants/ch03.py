"""Variants of the ch03 answers: other correct answers pass every test, classic mistakes fail."""

# ---- Part 1: evaluate ---------------------------------------------------------------------------
_EVAL_RIGHT_SUM = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    model.eval()
    losses, hits, sizes = [], [], []
    with torch.no_grad():
        for x, y in batches:
            out = model(x)
            losses.append(loss_fn(out, y) * y.shape[0])
            hits.append((out.argmax(-1) == y).float().sum())
            sizes.append(y.shape[0])
    n = sum(sizes)
    return (torch.stack(losses).sum() / n).item(), (torch.stack(hits).sum() / n).item()
'''
_EVAL_RIGHT_INFERENCE = '''
@torch.inference_mode()
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    was = model.training
    model.train(False)
    total = correct = 0.0
    count = 0
    for x, y in batches:
        logits = model(x)
        total += float(loss_fn(logits, y)) * len(x)
        correct += float((logits.max(1).indices == y).sum())
        count += len(x)
    model.train(was)
    return total / count, correct / count
'''
_EVAL_BODY = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    {eval}
    total_loss, correct, count, nb = 0.0, 0, 0, 0
    {ctx}
        for x, y in batches:
            logits = model(x)
            total_loss += loss_fn(logits, y).item() {weight}
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
            nb += 1
    return total_loss / {div}, correct / {acc_div}
'''


def _eval(eval="model.eval()", ctx="with torch.no_grad():", weight="* len(y)", div="count",
          acc_div="count"):
    return _EVAL_BODY.format(eval=eval, ctx=ctx, weight=weight, div=div, acc_div=acc_div)


# ---- Part 2: best_constant_loss -------------------------------------------------------------------
_CONST_RIGHT_LOOP = '''
def best_constant_loss(labels, num_classes):
    n = len(labels)
    total = 0.0
    for c in range(num_classes):
        k = int((labels == c).sum())
        if k:
            total -= k / n * math.log(k / n)
    return total
'''
_CONST_RIGHT_XLOGY = '''
def best_constant_loss(labels, num_classes):
    p = torch.bincount(labels, minlength=num_classes).double() / labels.numel()
    return -torch.special.xlogy(p, p).sum().item()
'''

# ---- Part 3: SGD --------------------------------------------------------------------------------
_SGD = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.state = {{}}

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            {body}

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''
_SGD_TORCH_LIKE = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                if p not in self.state:
                    self.state[p] = g.clone()
                else:
                    self.state[p].mul_(self.momentum).add_(g)
                b = self.state[p]
                g = g.add(b, alpha=self.momentum) if self.nesterov else b
            p.add_(g, alpha=-self.lr)'''
_SGD_ZERO_INIT = '''g = p.grad.add(p, alpha=self.weight_decay)
            b = self.state.setdefault(id(p), torch.zeros_like(p))   # mu*0 + g = g at step 1
            b.mul_(self.momentum).add_(g)
            if self.nesterov:
                g = g + self.momentum * b
            elif self.momentum:
                g = b
            p.sub_(self.lr * g)'''
_SGD_DECOUPLED = '''g = p.grad
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p -= self.lr * (g + self.weight_decay * p)'''
_SGD_SUTSKEVER = '''g = p.grad + self.weight_decay * p
            v = self.state.get(p, torch.zeros_like(p))
            v = self.momentum * v - self.lr * g
            self.state[p] = v
            p += self.momentum * v - self.lr * g if self.nesterov else v'''
_SGD_DAMPENED = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + (1 - self.momentum) * g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p -= self.lr * g'''
_SGD_NESTEROV_WRONG = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = b
            p -= self.lr * g'''
_SGD_GRAD_INPLACE = '''g = p.grad.add_(p, alpha=self.weight_decay)
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p -= self.lr * g'''
_SGD_DECAY_NONE = '''g = (p.grad if p.grad is not None else 0) + self.weight_decay * p
            p -= self.lr * g'''
_SGD_TORCH_OPTIM = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr = lr
        self._opt = torch.optim.SGD(self.params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                    nesterov=nesterov)

    def step(self):
        self._opt.param_groups[0]["lr"] = self.lr
        self._opt.step()

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''
_SGD_NO_SKIP = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.state = {}

    @torch.no_grad()
    def step(self):
        for p in self.params:
            grad = p.grad if p.grad is not None else torch.zeros_like(p)
            g = grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p -= self.lr * g

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''

# ---- Part 4: b_simple ---------------------------------------------------------------------------
_BS = '''
def b_simple(sq_norms_small, sq_norms_big, b_small, b_big):
    if not 0 < b_small < b_big:
        raise ValueError("need 0 < b_small < b_big")
    {body}
'''
_BS_RIGHT_PER_DRAW = _BS.format(body='''g2s, trs = [], []
    for s, B in zip(sq_norms_small, sq_norms_big):
        g2s.append((b_big * float(B) - b_small * float(s)) / (b_big - b_small))
        trs.append((float(s) - float(B)) / (1 / b_small - 1 / b_big))
    return (sum(trs) / len(trs)) / (sum(g2s) / len(g2s))''')
_BS_RIGHT_TENSOR = _BS.format(body='''s = torch.as_tensor(sq_norms_small, dtype=torch.float64).mean()
    B = torch.as_tensor(sq_norms_big, dtype=torch.float64).mean()
    trace = b_small * b_big * (s - B) / (b_big - b_small)      # the same formula, simplified
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    return (trace / g2).item()''')
_BS_MEAN_OF_RATIOS = _BS.format(body='''ratios = []
    for s, B in zip(sq_norms_small, sq_norms_big):
        g2 = (b_big * B - b_small * s) / (b_big - b_small)
        tr = (s - B) / (1 / b_small - 1 / b_big)
        ratios.append(tr / g2)
    return sum(ratios) / len(ratios)''')
_BS_SWAPPED = _BS.format(body='''s = sum(sq_norms_small) / len(sq_norms_small)
    B = sum(sq_norms_big) / len(sq_norms_big)
    g2 = (b_big * s - b_small * B) / (b_big - b_small)     # each norm paired with the other batch size
    tr = (s - B) / (1 / b_small - 1 / b_big)
    return tr / g2''')
_BS_NO_DENOM = _BS.format(body='''s = sum(sq_norms_small) / len(sq_norms_small)
    B = sum(sq_norms_big) / len(sq_norms_big)
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    tr = (s - B) * (b_big - b_small)
    return tr / g2''')
_BS_BIG_AS_G = _BS.format(body='''s = sum(sq_norms_small) / len(sq_norms_small)
    B = sum(sq_norms_big) / len(sq_norms_big)
    tr = (s - B) / (1 / b_small - 1 / b_big)
    return tr / B''')
_BS_NO_CHECK = '''
def b_simple(sq_norms_small, sq_norms_big, b_small, b_big):
    s = sum(sq_norms_small) / len(sq_norms_small)
    B = sum(sq_norms_big) / len(sq_norms_big)
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    return ((s - B) / (1 / b_small - 1 / b_big)) / g2
'''

# ---- Part 5: scaled_lr --------------------------------------------------------------------------
_LR = '''
def scaled_lr(step, base_lr, base_batch, batch_size, warmup_steps):
    {body}
'''
_LR_RIGHT_MINMAX = _LR.format(body='''peak = base_lr * batch_size / base_batch
    if peak <= base_lr or warmup_steps == 0:
        return peak
    frac = min(step / warmup_steps, 1.0)
    return (1 - frac) * base_lr + frac * peak''')
_LR_SQRT = _LR.format(body='''k = (batch_size / base_batch) ** 0.5
    target = base_lr * k
    if k <= 1 or step >= warmup_steps:
        return target
    return base_lr + (target - base_lr) * step / warmup_steps''')
_LR_FROM_ZERO = _LR.format(body='''target = base_lr * batch_size / base_batch
    if batch_size <= base_batch or step >= warmup_steps:
        return target
    return target * step / warmup_steps''')
_LR_OFF_BY_ONE = _LR.format(body='''target = base_lr * batch_size / base_batch
    if batch_size <= base_batch or step >= warmup_steps:
        return target
    return base_lr + (target - base_lr) * (step + 1) / warmup_steps''')
_LR_NO_WARMUP = _LR.format(body='''return base_lr * batch_size / base_batch''')
_LR_WARMUP_DOWN = _LR.format(body='''target = base_lr * batch_size / base_batch
    if warmup_steps == 0 or step >= warmup_steps:
        return target
    return base_lr + (target - base_lr) * step / warmup_steps''')
_LR_INT_DIV = _LR.format(body='''k = batch_size // base_batch
    target = base_lr * k
    if k <= 1 or step >= warmup_steps:
        return base_lr * batch_size / base_batch
    return base_lr + (target - base_lr) * step / warmup_steps''')

# ---- Part 6: fit_critical_batch -----------------------------------------------------------------
_FIT_RIGHT_RELATIVE = '''
import numpy as np

def fit_critical_batch(batch_sizes, steps):
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    if b.size < 2:
        raise ValueError("need at least two points")
    A = np.stack([np.ones_like(b), 1 / b], 1) / s[:, None]     # relative error
    (c0, c1), *_ = np.linalg.lstsq(A, np.ones_like(s), rcond=None)
    return float(c0), float(c1 / c0)
'''
_FIT_RIGHT_POLYFIT = '''
import numpy as np

def fit_critical_batch(batch_sizes, steps):
    if len(batch_sizes) < 2:
        raise ValueError("need at least two points")
    slope, intercept = np.polyfit(1.0 / np.asarray(batch_sizes, dtype=float), np.asarray(steps, dtype=float), 1)
    return float(intercept), float(slope / intercept)
'''
_FIT_RIGHT_NORMAL_EQ = '''
def fit_critical_batch(batch_sizes, steps):
    x = [1.0 / float(b) for b in batch_sizes]
    y = [float(s) for s in steps]
    n = len(x)
    if n < 2:
        raise ValueError("fit_critical_batch needs two or more points")
    mx, my = sum(x) / n, sum(y) / n
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)
    s_min = my - slope * mx
    return s_min, slope / s_min
'''
_FIT = '''
def fit_critical_batch(batch_sizes, steps):
    B = torch.as_tensor(batch_sizes, dtype=torch.float64).flatten()
    S = torch.as_tensor(steps, dtype=torch.float64).flatten()
    if len(B) < 2:
        raise ValueError("need two or more points")
    design = torch.stack([torch.ones_like(B), {x}], dim=1)
    c0, c1 = torch.linalg.lstsq(design, S[:, None]).solution[:, 0].tolist()
    return {ret}
'''
_FIT_SLOPE = _FIT.format(x="1 / B", ret="c0, c1")
_FIT_IN_B = _FIT.format(x="B", ret="c0, c1 / c0")
_FIT_SWAPPED = _FIT.format(x="1 / B", ret="c1 / c0, c0")
_FIT_NO_CHECK = '''
def fit_critical_batch(batch_sizes, steps):
    B = torch.as_tensor(batch_sizes, dtype=torch.float64)
    S = torch.as_tensor(steps, dtype=torch.float64)
    design = torch.stack([torch.ones_like(B), 1 / B], dim=1)
    c0, c1 = torch.linalg.lstsq(design, S[:, None]).solution[:, 0].tolist()
    return c0, c1 / c0
'''

RIGHT = {
    "evaluate": [_EVAL_RIGHT_SUM, _EVAL_RIGHT_INFERENCE],
    "best_constant_loss": [_CONST_RIGHT_LOOP, _CONST_RIGHT_XLOGY],
    "sgd": [_SGD.format(body=_SGD_TORCH_LIKE), _SGD.format(body=_SGD_ZERO_INIT)],
    "b_simple": [_BS_RIGHT_PER_DRAW, _BS_RIGHT_TENSOR],
    "scaled_lr": [_LR_RIGHT_MINMAX],
    "fit_critical_batch": [_FIT_RIGHT_RELATIVE, _FIT_RIGHT_POLYFIT, _FIT_RIGHT_NORMAL_EQ],
}

WRONG = {
    "evaluate": [
        ("mean of batch means", _eval(weight="", div="nb")),
        ("divides by batches x batch size", _eval(div="(nb * 4)", acc_div="(nb * 4)")),
        ("no eval mode", _eval(eval="pass")),
        ("no torch.no_grad", _eval(ctx="if True:")),
        ("accuracy over batches", _eval(acc_div="nb")),
    ],
    "best_constant_loss": [
        ("ln C for any labels", "def best_constant_loss(labels, num_classes):\n    return math.log(num_classes)\n"),
        ("log base 2", _CONST_RIGHT_XLOGY.replace("return -torch.special.xlogy(p, p).sum().item()",
                                                  "return -torch.special.xlogy(p, p).sum().item() / math.log(2)")),
        ("0 ln 0 gives nan", '''
def best_constant_loss(labels, num_classes):
    p = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    return float(-(p * p.log()).sum())
'''),
        ("ln of the number of classes present", '''
def best_constant_loss(labels, num_classes):
    return math.log(len(torch.unique(labels)))
'''),
    ],
    "sgd": [
        ("decoupled weight decay", _SGD.format(body=_SGD_DECOUPLED)),
        ("Sutskever momentum (lr inside the buffer)", _SGD.format(body=_SGD_SUTSKEVER)),
        ("dampened momentum", _SGD.format(body=_SGD_DAMPENED)),
        ("Nesterov ignored", _SGD.format(body=_SGD_NESTEROV_WRONG)),
        ("weight decay added to p.grad in place", _SGD.format(body=_SGD_GRAD_INPLACE)),
        ("ignores momentum", _SGD.format(body=_SGD_DECAY_NONE)),
        ("wraps torch.optim.SGD", _SGD_TORCH_OPTIM),
        ("updates parameters without a gradient", _SGD_NO_SKIP),
    ],
    "b_simple": [
        ("mean of per-draw ratios", _BS_MEAN_OF_RATIOS),
        ("norms paired with the wrong batch sizes", _BS_SWAPPED),
        ("trace without the 1/b - 1/B denominator", _BS_NO_DENOM),
        ("big-batch norm taken as |G|^2", _BS_BIG_AS_G),
        ("no check of b_small < b_big", _BS_NO_CHECK),
        ("imports course_lib's estimator", '''
from course_lib.noise_scale import NoiseScaleEstimator

def b_simple(sq_norms_small, sq_norms_big, b_small, b_big):
    est = NoiseScaleEstimator(b_small, b_big)
    for s, B in zip(sq_norms_small, sq_norms_big):
        est.update(float(s), float(B))
    return est.b_simple
'''),
    ],
    "scaled_lr": [
        ("square-root scaling", _LR_SQRT),
        ("warm-up from zero", _LR_FROM_ZERO),
        ("warm-up off by one step", _LR_OFF_BY_ONE),
        ("no warm-up", _LR_NO_WARMUP),
        ("warm-up when k < 1", _LR_WARMUP_DOWN),
        ("integer k", _LR_INT_DIV),
    ],
    "fit_critical_batch": [
        ("slope returned as B_crit", _FIT_SLOPE),
        ("fit linear in B instead of 1/B", _FIT_IN_B),
        ("outputs swapped", _FIT_SWAPPED),
        ("no check for a single point", _FIT_NO_CHECK),
        ("calls course_lib's fit", '''
from course_lib.batch_sweep import fit_steps_vs_batch

def fit_critical_batch(batch_sizes, steps):
    return fit_steps_vs_batch(list(batch_sizes), list(steps))
'''),
    ],
}

HEADLINE = {
    "evaluate": ("mean of batch means", "weight each batch"),
    "best_constant_loss": ("ln C for any labels", "not balanced"),
    "sgd": ("decoupled weight decay", "before the momentum buffer"),
    "b_simple": ("mean of per-draw ratios", "average |G|² and tr(Σ) over all draws first"),
    "scaled_lr": ("square-root scaling", "multiplied by k"),
    "fit_critical_batch": ("slope returned as B_crit", "divided by S_min"),
}
