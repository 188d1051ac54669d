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

_EVAL_RIGHT_CAT = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    model.eval()
    with torch.no_grad():
        pairs = [(model(x), y) for x, y in batches]
        logits = torch.cat([p for p, _ in pairs])
        labels = torch.cat([t for _, t in pairs])
        return loss_fn(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()
'''


def _eval(eval="model.eval()", ctx="with torch.no_grad():", weight="* len(y)", div="count",
          acc_div="count"):
    return _EVAL_BODY.format(eval=eval, ctx=ctx, weight=weight, div=div, acc_div=acc_div)


_EVAL_TENSORS = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    model.eval()
    total, correct, count = torch.tensor(0.0), torch.tensor(0), 0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            total = total + loss_fn(logits, y) * len(y)
            correct = correct + (logits.argmax(1) == y).sum()
            count += len(y)
    return total / count, correct / count
'''
_EVAL_TWO_PASSES = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    model.eval()
    n = sum(len(y) for _, y in batches)          # first pass: count the examples
    total = correct = 0.0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            total += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
    return total / n, correct / n
'''
_EVAL_OWN_LOSS = _eval().replace("loss_fn(logits, y)", "nn.functional.cross_entropy(logits, y)")
_EVAL_LATE = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            model.eval()                              # switched after the first forward pass
            total += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    return total / count, correct / count
'''
_EVAL_MEAN_OF_ACCS = '''
def evaluate(model, batches, loss_fn=nn.functional.cross_entropy):
    model.eval()
    total, count, accs = 0.0, 0, []
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            total += loss_fn(logits, y).item() * len(y)
            accs.append((logits.argmax(1) == y).float().mean().item())
            count += len(y)
    return total / count, sum(accs) / len(accs)
'''
_EVAL_SWAPPED = _eval().replace("return total_loss / count, correct / count", "return correct / count, total_loss / count")
_EVAL_ARGMAX_0 = _eval().replace("logits.argmax(dim=1)", "logits.argmax(dim=0)")
_EVAL_PERCENT = _eval().replace("correct / count", "100 * correct / count")
_EVAL_SUM_REDUCTION = _eval(weight="").replace("loss_fn(logits, y).item()", "loss_fn(logits, y, reduction='sum').item()")


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
_CONST_RIGHT_ENTR = '''
def best_constant_loss(labels, num_classes):
    p = torch.bincount(labels, minlength=num_classes).to(torch.float64) / len(labels)
    return float(torch.special.entr(p).sum())
'''
_CONST_RIGHT_CROSS_ENTROPY = '''
def best_constant_loss(labels, num_classes):
    p = torch.bincount(labels, minlength=num_classes).double() / len(labels)
    log_p = p.log().expand(len(labels), num_classes)             # predict p for every input
    return nn.functional.cross_entropy(log_p, labels).item()
'''
_CONST = '''
def best_constant_loss(labels, num_classes):
    counts = torch.bincount(labels, minlength=num_classes).double()
    p = counts / {total}
    p = p[p > 0]
    return {ret}
'''
_CONST_TENSOR = _CONST.format(total="counts.sum()", ret="-(p * p.log()).sum()")
_CONST_MEAN = _CONST.format(total="counts.sum()", ret="float(-(p * p.log()).mean())")
_CONST_PER_CLASS = _CONST.format(total="num_classes", ret="float(-(p * p.log()).sum())")
_CONST_NO_MINUS = _CONST.format(total="counts.sum()", ret="float((p * p.log()).sum())")

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
_SGD_REBIND_DATA = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p.data = p.data - self.lr * g'''
_SGD_BUFFER_IS_GRAD = '''g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                if p not in self.state:
                    self.state[p] = g                         # no copy: the buffer is p.grad itself
                else:
                    self.state[p].mul_(self.momentum).add_(g)
                b = self.state[p]
                g = g + self.momentum * b if self.nesterov else b
            p.sub_(self.lr * g)'''
_SGD_BUFFER_DETACH = '''g = p.grad + self.weight_decay * p if self.weight_decay else p.grad
            if self.momentum:
                b = self.state.get(p)
                if b is None:
                    b = self.state[p] = g.detach()             # detach() shares p.grad's memory
                else:
                    b.mul_(self.momentum).add_(g)
                g = g + self.momentum * b if self.nesterov else b
            p -= self.lr * g'''
_SGD_LOCAL_NAME = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p = p - self.lr * g'''
_SGD_NESTEROV_OLD_BUFFER = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                old = self.state.get(p, torch.zeros_like(p))
                b = g.clone() if p not in self.state else self.momentum * old + g
                self.state[p] = b
                g = g + self.momentum * old if self.nesterov else b
            p -= self.lr * g'''
_SGD_ZEROES_GRAD = _SGD_TORCH_LIKE + "\n            p.grad.zero_()"
_SGD_DECAY_SUBTRACTED = _SGD_TORCH_LIKE.replace("g = p.grad + self.weight_decay * p", "g = p.grad - self.weight_decay * p")
_SGD_RIGHT_BY_INDEX = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.bufs = [None for _ in self.params]

    def step(self):
        with torch.no_grad():
            for i, p in enumerate(self.params):
                if p.grad is None:
                    continue
                d_p = p.grad.detach().clone()
                if self.weight_decay != 0:
                    d_p.add_(p.detach(), alpha=self.weight_decay)
                if self.momentum != 0:
                    if self.bufs[i] is None:
                        self.bufs[i] = d_p.clone()
                    else:
                        self.bufs[i].mul_(self.momentum).add_(d_p)
                    d_p = d_p.add(self.bufs[i], alpha=self.momentum) if self.nesterov else self.bufs[i]
                p.data.sub_(self.lr * d_p)

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''
_SGD_RIGHT_COPY = '''g = p.grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(id(p))
                b = g.clone() if b is None else self.momentum * b + g
                self.state[id(p)] = b
                g = g + self.momentum * b if self.nesterov else b
            p.copy_(p - self.lr * g)'''
_SGD_LR_AT_INIT = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.base_lr = lr
        self.state = {}

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p
            if self.momentum:
                b = self.state.get(p)
                b = g.clone() if b is None else self.momentum * b + g
                self.state[p] = b
                g = g + self.momentum * b if self.nesterov else b
            p -= self.base_lr * g

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''
_SGD_ONE_BUFFER = '''
class SGD:
    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay, self.nesterov = lr, momentum, weight_decay, nesterov
        self.buf = None

    @torch.no_grad()
    def step(self):
        for p in self.params:
            if p.grad is None:
                continue
            g = p.grad + self.weight_decay * p
            if self.momentum:
                self.buf = g.clone() if self.buf is None else self.momentum * self.buf + g
                g = g + self.momentum * self.buf if self.nesterov else self.buf
            p -= self.lr * g

    def zero_grad(self):
        for p in self.params:
            p.grad = None
'''
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
    if sum(g2s) <= 0:
        raise ValueError("the averaged |G|² is not positive")
    return (sum(trs) / len(trs)) / (sum(g2s) / len(g2s))''')
_BS_RIGHT_TENSOR = _BS.format(body='''s = torch.as_tensor(sq_norms_small, dtype=torch.float64).mean()
    B = torch.as_tensor(sq_norms_big, dtype=torch.float64).mean()
    trace = b_small * b_big * (s - B) / (b_big - b_small)      # the same formula, simplified
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    if g2 <= 0:
        raise ValueError("no signal: |G|² <= 0")
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
_BS_MEANS = '''
    s = sum(float(v) for v in sq_norms_small) / len(sq_norms_small)
    B = sum(float(v) for v in sq_norms_big) / len(sq_norms_big)
    g2 = (b_big * B - b_small * s) / (b_big - b_small)'''
_BS_ABS = _BS.format(body=_BS_MEANS + '''
    tr = (s - B) / (1 / b_small - 1 / b_big)
    return tr / abs(g2)''')
_BS_NO_SIGN_CHECK = _BS.format(body=_BS_MEANS + '''
    tr = (s - B) / (1 / b_small - 1 / b_big)
    return tr / g2''')
_BS_CLAMPED = _BS.format(body=_BS_MEANS + '''
    tr = (s - B) / (1 / b_small - 1 / b_big)
    return tr / max(g2, 1e-12)''')
_BS_TENSOR_OUT = _BS.format(body='''s = torch.as_tensor(sq_norms_small, dtype=torch.float64).mean()
    B = torch.as_tensor(sq_norms_big, dtype=torch.float64).mean()
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    if g2 <= 0:
        raise ValueError("|G|² <= 0")
    return ((s - B) / (1 / b_small - 1 / b_big)) / g2''')
_BS_ASSERT = '''
def b_simple(sq_norms_small, sq_norms_big, b_small, b_big):
    assert 0 < b_small < b_big, "need 0 < b_small < b_big"
    s = sum(sq_norms_small) / len(sq_norms_small)
    B = sum(sq_norms_big) / len(sq_norms_big)
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    assert g2 > 0, "|G|² must be positive"
    return ((s - B) / (1 / b_small - 1 / b_big)) / g2
'''
_BS_EQUAL_SIZES = _BS.format(body=_BS_MEANS + '''
    if g2 <= 0:
        raise ValueError("|G|² <= 0")
    return ((s - B) / (1 / b_small - 1 / b_big)) / g2''').replace("if not 0 < b_small < b_big:", "if not 0 < b_small <= b_big:")
_BS_FIRST_DRAW = _BS.format(body='''s, B = float(sq_norms_small[0]), float(sq_norms_big[0])
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    if g2 <= 0:
        raise ValueError("|G|² <= 0")
    return ((s - B) / (1 / b_small - 1 / b_big)) / g2''')
_BS_SQUARED_AGAIN = _BS.format(body='''s = sum(float(v) ** 2 for v in sq_norms_small) / len(sq_norms_small)    # squares the squared norms
    B = sum(float(v) ** 2 for v in sq_norms_big) / len(sq_norms_big)
    g2 = (b_big * B - b_small * s) / (b_big - b_small)
    if g2 <= 0:
        raise ValueError("|G|² <= 0")
    return ((s - B) / (1 / b_small - 1 / b_big)) / g2''')
_BS_RIGHT_FLOAT32 = _BS.format(body='''s = torch.tensor(sq_norms_small).mean()          # float32 for a list of floats
    B = torch.tensor(sq_norms_big).mean()
    G2 = (b_big * B - b_small * s) / (b_big - b_small)
    if G2.item() <= 0:
        raise ValueError(f"mean |G|² = {G2.item()} is not positive")
    tr = (s - B) / (1 / b_small - 1 / b_big)
    return float(tr / G2)''')
_BS_RIGHT_NUMPY = '''
import numpy as np

def b_simple(sq_norms_small, sq_norms_big, b_small, b_big):
    if b_small <= 0 or b_big <= b_small:
        raise ValueError("need 0 < b_small < b_big")
    small, big = np.asarray(sq_norms_small, dtype=float), np.asarray(sq_norms_big, dtype=float)
    g2 = np.mean((b_big * big - b_small * small) / (b_big - b_small))
    tr = np.mean((small - big) / (1 / b_small - 1 / b_big))
    if not g2 > 0:
        raise ValueError("the mean |G|^2 is not positive: more draws needed")
    return float(tr / g2)
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
_LR_DIVIDES_FIRST = _LR.format(body='''k = batch_size / base_batch
    frac = min(step / warmup_steps, 1.0)
    if k <= 1:
        return base_lr * k
    return base_lr + (base_lr * k - base_lr) * frac''')
_LR_INVERTED_K = _LR.format(body='''k = base_batch / batch_size
    target = base_lr * k
    if k <= 1 or step >= warmup_steps:
        return target
    return base_lr + (target - base_lr) * step / warmup_steps''')
_LR_GEOMETRIC = _LR.format(body='''k = batch_size / base_batch
    if k <= 1 or step >= warmup_steps:
        return base_lr * k
    return base_lr * k ** (step / warmup_steps)''')
_LR_NO_SCALING_DOWN = _LR.format(body='''k = batch_size / base_batch
    if k <= 1:
        return base_lr
    if step >= warmup_steps:
        return base_lr * k
    return base_lr + (base_lr * k - base_lr) * step / warmup_steps''')
_LR_EARLY = _LR.format(body='''k = batch_size / base_batch
    if k <= 1 or step >= warmup_steps - 1:
        return base_lr * k
    return base_lr + (base_lr * k - base_lr) * step / (warmup_steps - 1)''')
_LR_RIGHT_IF = _LR.format(body='''peak = base_lr * (batch_size / base_batch)
    if batch_size > base_batch and step < warmup_steps:
        return base_lr + step * (peak - base_lr) / warmup_steps
    return peak''')

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
_FIT_END_POINTS = '''
def fit_critical_batch(batch_sizes, steps):
    if len(batch_sizes) < 2:
        raise ValueError("need two points")
    x0, x1 = 1 / float(batch_sizes[0]), 1 / float(batch_sizes[-1])
    y0, y1 = float(steps[0]), float(steps[-1])
    slope = (y1 - y0) / (x1 - x0)                     # the line through the first and last point
    s_min = y0 - slope * x0
    return s_min, slope / s_min
'''
_FIT_SB_AGAINST_B = '''
def fit_critical_batch(batch_sizes, steps):
    B = torch.as_tensor(batch_sizes, dtype=torch.float64)
    S = torch.as_tensor(steps, dtype=torch.float64)
    if len(B) < 2:
        raise ValueError("need two points")
    design = torch.stack([torch.ones_like(B), B], dim=1)         # S·B = S_min·B_crit + S_min·B
    c0, c1 = torch.linalg.lstsq(design, (S * B)[:, None]).solution[:, 0].tolist()
    return c1, c0 / c1
'''
_FIT_LOG = '''
import numpy as np

def fit_critical_batch(batch_sizes, steps):
    b, s = np.asarray(batch_sizes, dtype=float), np.asarray(steps, dtype=float)
    if b.size < 2:
        raise ValueError("need two points")
    best = None
    for b_crit in np.geomspace(1, 1e5, 4001):               # least squares on log S over a grid of B_crit
        log_smin = np.mean(np.log(s) - np.log1p(b_crit / b))
        err = np.sum((np.log(s) - log_smin - np.log1p(b_crit / b)) ** 2)
        if best is None or err < best[0]:
            best = (err, float(np.exp(log_smin)), float(b_crit))
    return best[1], best[2]
'''
_FIT_TENSORS = _FIT.format(x="1 / B", ret="c0, c1 / c0").replace(
    "c0, c1 = torch.linalg.lstsq(design, S[:, None]).solution[:, 0].tolist()",
    "c0, c1 = torch.linalg.lstsq(design, S[:, None]).solution[:, 0]")
_FIT_POLYFIT_W_S2 = '''
import numpy as np

def fit_critical_batch(batch_sizes, steps):
    if len(batch_sizes) < 2:
        raise ValueError("need at least two points")
    s = np.asarray(steps, dtype=float)
    slope, intercept = np.polyfit(1.0 / np.asarray(batch_sizes, dtype=float), s, 1, w=1 / s ** 2)
    return float(intercept), float(slope / intercept)
'''
_FIT_RIGHT_POLYFIT_W = '''
import numpy as np

def fit_critical_batch(batch_sizes, steps):
    if len(batch_sizes) < 2:
        raise ValueError("need at least two points")
    s = np.asarray(steps, dtype=float)
    slope, intercept = np.polyfit(1.0 / np.asarray(batch_sizes, dtype=float), s, 1, w=1 / s)   # relative error
    return float(intercept), float(slope / intercept)
'''
_FIT_RIGHT_LBFGS = '''
def fit_critical_batch(batch_sizes, steps):
    """Nonlinear least squares on relative error, S_min and B_crit directly (their logs keep them positive)."""
    B = torch.tensor([float(b) for b in batch_sizes], dtype=torch.float64)
    S = torch.tensor([float(s) for s in steps], dtype=torch.float64)
    if len(B) < 2:
        raise ValueError("need at least two points")
    log_smin = torch.tensor(float(S.min().log()), dtype=torch.float64, requires_grad=True)
    log_bcrit = torch.tensor(float(B.median().log()), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_smin, log_bcrit], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (((S - log_smin.exp() * (1 + log_bcrit.exp() / B)) / S) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return log_smin.exp().item(), log_bcrit.exp().item()
'''
_FIT_IN_PLACE = '''
import numpy as np

def fit_critical_batch(batch_sizes, steps):
    b = np.asarray(batch_sizes, dtype=float)
    s = np.asarray(steps, dtype=float)
    if b.size < 2:
        raise ValueError("need at least two points")
    scale = s.max()
    s /= scale                                             # in place: the caller's array when it is float
    A = np.stack([np.ones_like(b), 1 / b], 1)
    (c0, c1), *_ = np.linalg.lstsq(A, s, rcond=None)
    return float(c0 * scale), float(c1 / c0)
'''
_FIT_ASSERT = _FIT.format(x="1 / B", ret="c0, c1 / c0").replace(
    '''if len(B) < 2:
        raise ValueError("need two or more points")''', '''assert len(B) >= 2, "need two or more points"''')

RIGHT = {
    "evaluate": [_EVAL_RIGHT_SUM, _EVAL_RIGHT_INFERENCE, _EVAL_RIGHT_CAT],
    "best_constant_loss": [_CONST_RIGHT_LOOP, _CONST_RIGHT_XLOGY, _CONST_RIGHT_ENTR, _CONST_RIGHT_CROSS_ENTROPY],
    "sgd": [_SGD.format(body=_SGD_TORCH_LIKE), _SGD.format(body=_SGD_ZERO_INIT), _SGD_RIGHT_BY_INDEX,
            _SGD.format(body=_SGD_RIGHT_COPY)],
    "b_simple": [_BS_RIGHT_PER_DRAW, _BS_RIGHT_TENSOR, _BS_RIGHT_FLOAT32, _BS_RIGHT_NUMPY],
    "scaled_lr": [_LR_RIGHT_MINMAX, _LR_RIGHT_IF],
    "fit_critical_batch": [_FIT_RIGHT_RELATIVE, _FIT_RIGHT_POLYFIT, _FIT_RIGHT_NORMAL_EQ, _FIT_RIGHT_POLYFIT_W,
                           _FIT_RIGHT_LBFGS],
}

WRONG = {
    "evaluate": [
        ("mean of batch means", _eval(weight="", div="nb")),
        ("divides by batches x batch size", _eval(div="(nb * 4)", acc_div="(nb * 4)")),
        ("no eval mode", _eval(eval="pass")),
        ("no torch.no_grad", _eval(ctx="if True:")),
        ("accuracy over batches", _eval(acc_div="nb")),
        ("returns 0-d tensors, not Python floats", _EVAL_TENSORS),
        ("goes through batches twice (a generator is empty the second time)", _EVAL_TWO_PASSES),
        ("ignores the loss_fn passed in", _EVAL_OWN_LOSS),
        ("model.eval without the brackets", _eval(eval="model.eval")),
        ("eval mode only after the first forward pass", _EVAL_LATE),
        ("accuracy as the mean of batch accuracies", _EVAL_MEAN_OF_ACCS),
        ("returns (accuracy, loss)", _EVAL_SWAPPED),
        ("argmax over the batch axis", _EVAL_ARGMAX_0),
        ("accuracy in percent", _EVAL_PERCENT),
        ("loss_fn called with reduction='sum'", _EVAL_SUM_REDUCTION),
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
        ("returns a 0-d tensor, not a Python float", _CONST_TENSOR),
        ("mean over the classes instead of the sum", _CONST_MEAN),
        ("counts divided by the number of classes", _CONST_PER_CLASS),
        ("minus sign missing", _CONST_NO_MINUS),
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
        ("rebinds p.data instead of changing p in place", _SGD.format(body=_SGD_REBIND_DATA)),
        ("momentum buffer is p.grad itself", _SGD.format(body=_SGD_BUFFER_IS_GRAD)),
        ("momentum buffer from g.detach() shares p.grad", _SGD.format(body=_SGD_BUFFER_DETACH)),
        ("p = p - lr * g: a new local name, the parameter unchanged", _SGD.format(body=_SGD_LOCAL_NAME)),
        ("Nesterov with the previous buffer", _SGD.format(body=_SGD_NESTEROV_OLD_BUFFER)),
        ("step() zeroes p.grad", _SGD.format(body=_SGD_ZEROES_GRAD)),
        ("weight decay subtracted from the gradient", _SGD.format(body=_SGD_DECAY_SUBTRACTED)),
        ("learning rate read once in __init__", _SGD_LR_AT_INIT),
        ("one momentum buffer for all parameters", _SGD_ONE_BUFFER),
    ],
    "b_simple": [
        ("mean of per-draw ratios", _BS_MEAN_OF_RATIOS),
        ("norms paired with the wrong batch sizes", _BS_SWAPPED),
        ("trace without the 1/b - 1/B denominator", _BS_NO_DENOM),
        ("big-batch norm taken as |G|^2", _BS_BIG_AS_G),
        ("no check of b_small < b_big", _BS_NO_CHECK),
        ("abs() around a negative |G|^2", _BS_ABS),
        ("returns a negative ratio when |G|^2 < 0", _BS_NO_SIGN_CHECK),
        ("|G|^2 clamped to a tiny positive number", _BS_CLAMPED),
        ("returns a 0-d tensor, not a Python float", _BS_TENSOR_OUT),
        ("assert instead of raising ValueError", _BS_ASSERT),
        ("equal batch sizes allowed", _BS_EQUAL_SIZES),
        ("uses the first draw only", _BS_FIRST_DRAW),
        ("squares the squared norms", _BS_SQUARED_AGAIN),
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
        ("divides by warmup_steps before checking it is 0", _LR_DIVIDES_FIRST),
        ("k inverted (base_batch / batch_size)", _LR_INVERTED_K),
        ("geometric warm-up", _LR_GEOMETRIC),
        ("no scaling down for smaller batches", _LR_NO_SCALING_DOWN),
        ("warm-up reaches the target one step early", _LR_EARLY),
    ],
    "fit_critical_batch": [
        ("slope returned as B_crit", _FIT_SLOPE),
        ("fit linear in B instead of 1/B", _FIT_IN_B),
        ("outputs swapped", _FIT_SWAPPED),
        ("no check for a single point", _FIT_NO_CHECK),
        ("line through the first and last point", _FIT_END_POINTS),
        ("least squares of S·B against B", _FIT_SB_AGAINST_B),
        ("least squares on log S", _FIT_LOG),
        ("returns 0-d tensors, not Python floats", _FIT_TENSORS),
        ("np.polyfit with w = 1/S² (residuals weighted by 1/S²)", _FIT_POLYFIT_W_S2),
        ("normalises the caller's steps in place", _FIT_IN_PLACE),
        ("assert instead of raising ValueError", _FIT_ASSERT),
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
