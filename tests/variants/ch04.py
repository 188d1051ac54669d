"""Variants of the ch04 answers: other correct Transformer boxes pass every test, classic mistakes fail.

Wrappers around the library function a part should reproduce (F.scaled_dot_product_attention,
nn.MultiheadAttention, nn.LayerNorm, course_lib.transformer) are mistakes too: the hidden tests
record those calls.
"""

# ---------------------------------------------------------------- Part 1: positional encoding
_PE = '''
def positional_encoding(T, d_model):
    pe = torch.zeros(T, d_model)
    for t in range(T):
        for j in range(d_model):
            angle = t / 10000 ** ({exponent} / d_model)
            pe[t, j] = {even} if j % 2 == 0 else {odd}
    return pe
'''

PE_RIGHT_LOOPS = _PE.format(exponent="(j - j % 2)", even="math.sin(angle)", odd="math.cos(angle)")
PE_RIGHT_EXP_LOG = '''
def positional_encoding(T, d_model):
    position = torch.arange(T).unsqueeze(1).double()
    div_term = torch.exp(torch.arange(0, d_model, 2).double() * (-math.log(10000.0) / d_model))
    pe = torch.zeros(T, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)[:, : d_model // 2]
    return pe.to(torch.float32)
'''
PE_RIGHT_STACK = '''
def positional_encoding(T, d_model):
    freqs = 1.0 / 10000 ** (torch.arange(0, d_model + 1, 2, dtype=torch.float64) / d_model)
    angles = torch.outer(torch.arange(T, dtype=torch.float64), freqs)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :d_model].float()
'''
PE_WRONG_FLOAT64 = PE_RIGHT_EXP_LOG.replace("return pe.to(torch.float32)", "return pe")
PE_WRONG_FROM_ONE = _PE.format(exponent="(j - j % 2)", even="math.sin(angle)", odd="math.cos(angle)").replace(
    "angle = t / 10000", "angle = (t + 1) / 10000")
PE_WRONG_BATCH_AXIS = PE_RIGHT_STACK.replace("[:, :d_model].float()", "[:, :d_model].float().unsqueeze(0)")
PE_WRONG_NUMPY = '''
import numpy as np

def positional_encoding(T, d_model):
    pe = np.zeros((T, d_model), dtype=np.float32)
    angle = np.arange(T)[:, None] / 10000 ** (np.arange(0, d_model, 2) / d_model)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d_model // 2])
    return pe
'''
PE_WRONG_PRECEDENCE = _PE.format(exponent="(j - j % 2)", even="math.sin(angle)", odd="math.cos(angle)").replace(
    "angle = t / 10000 ** ((j - j % 2) / d_model)", "angle = t / 10000 ** (j - j % 2) / d_model")

# ---------------------------------------------------------------- Part 2: attention
ATT_RIGHT_EINSUM = '''
def attention(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    weights = torch.nan_to_num(scores.softmax(dim=-1), nan=0.0)
    return torch.einsum("...qk,...kd->...qd", weights, v), weights
'''
ATT_RIGHT_MANUAL_SOFTMAX = '''
def attention(q, k, v, mask=None):
    scores = (q / math.sqrt(q.size(-1))) @ k.transpose(-1, -2)
    allowed = torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.expand_as(scores)
    scores = scores.masked_fill(~allowed, float("-inf"))
    top = scores.amax(dim=-1, keepdim=True).masked_fill(~allowed.any(-1, keepdim=True), 0.0)
    e = torch.exp(scores - top)                      # exp(-inf) = 0
    total = e.sum(dim=-1, keepdim=True)
    weights = e / total.masked_fill(total == 0, 1.0)
    return weights @ v, weights
'''
ATT_RIGHT_FLOAT64_SOFTMAX = '''
def attention(q, k, v, mask=None):
    d_k = k.size(-1)
    scores = torch.matmul(q, k.transpose(-1, -2)) / d_k ** 0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, -math.inf))
    weights = torch.softmax(scores.double(), dim=-1).to(q.dtype)
    if mask is not None:
        weights = torch.where(mask.any(-1, keepdim=True), weights, torch.zeros_like(weights))
    return torch.matmul(weights, v), weights
'''
_ATT = '''
def attention(q, k, v, mask=None):
    {scores}
    if mask is not None:
        {fill}
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1))
    return {ret}
'''


def _att(scores="scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",
         fill="scores = scores.masked_fill(~mask, float('-inf'))", ret="weights @ v, weights"):
    return _ATT.format(scores=scores, fill=fill, ret=ret)


ATT_WRONG_IN_PLACE = _att(scores="q /= math.sqrt(q.shape[-1])\n    scores = q @ k.transpose(-2, -1)")
ATT_WRONG_OUTPUT_ONLY = _att(ret="weights @ v")
ATT_WRONG_TRANSPOSE_1_2 = _att(scores="scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])")
ATT_WRONG_MASK_NOT_INVERTED = _att(fill="scores = scores.masked_fill(mask, float('-inf'))")
ATT_WRONG_SQRT_DV = _att(scores="scores = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])")
ATT_WRONG_MASK_TIMES_SCORES = _att(fill="scores = scores * mask")

# ---------------------------------------------------------------- Part 3: masks
MASKS_RIGHT = '''
def causal_mask(T):
    s = torch.arange(T)
    return s[None, :] <= s[:, None]


def padding_mask(lengths, T):
    lengths = torch.tensor(list(lengths)) if not isinstance(lengths, torch.Tensor) else lengths
    return torch.stack([torch.arange(T) < n for n in lengths]).view(len(lengths), 1, 1, T)
'''
MASKS_RIGHT_AS_TENSOR = '''
def causal_mask(T):
    return torch.tril(torch.ones(T, T)).bool()


def padding_mask(lengths, T):
    return torch.as_tensor(lengths).view(-1, 1, 1, 1) > torch.arange(T)
'''
_MASKS = '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def padding_mask(lengths, T):
    {body}
'''
MASKS_WRONG_UNSQUEEZE_ = _MASKS.format(body='''lengths = torch.as_tensor(lengths)
    return (torch.arange(T) < lengths.unsqueeze_(1))[:, None, None, :]''')
MASKS_WRONG_MAX_WIDTH = _MASKS.format(body='''lengths = torch.as_tensor(lengths)
    return (torch.arange(int(lengths.max())) < lengths[:, None])[:, None, None, :]''')
MASKS_WRONG_INVERTED = _MASKS.format(body='''lengths = torch.as_tensor(lengths)
    return (torch.arange(T) >= lengths[:, None])[:, None, None, :]''')
MASKS_WRONG_LIST = _MASKS.format(body='''return (torch.arange(T) < lengths[:, None])[:, None, None, :]''')
MASKS_WRONG_BLOCKED_TRUE = '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).triu(1)        # True where attending is blocked


def padding_mask(lengths, T):
    return (torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None])[:, None, None, :]
'''

# ---------------------------------------------------------------- Part 4: multi-head attention
_MHA_HEAD = '''
class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, context=None, mask=None):
'''
MHA_RIGHT_LOOP_OVER_HEADS = _MHA_HEAD + '''
        ctx = x if context is None else context
        q, k, v = self.q_proj(x), self.k_proj(ctx), self.v_proj(ctx)
        hs = x.shape[-1] // self.n_heads
        m = None if mask is None else mask[:, 0] if mask.dim() == 4 else mask
        heads = [attention(q[..., h * hs:(h + 1) * hs], k[..., h * hs:(h + 1) * hs], v[..., h * hs:(h + 1) * hs], m)[0]
                 for h in range(self.n_heads)]
        return self.out_proj(torch.cat(heads, dim=-1))
'''
MHA_RIGHT_UNFLATTEN = _MHA_HEAD + '''
        ctx = x if context is None else context
        split = lambda t: t.unflatten(-1, (self.n_heads, -1)).permute(0, 2, 1, 3)    # (B, H, T, hs)
        y, _ = attention(split(self.q_proj(x)), split(self.k_proj(ctx)), split(self.v_proj(ctx)), mask)
        return self.out_proj(y.permute(0, 2, 1, 3).flatten(-2))
'''
MHA_WRONG_SPLIT = _MHA_HEAD + '''
        ctx = x if context is None else context
        B, T, C = x.shape
        S, H = ctx.shape[1], self.n_heads
        q = self.q_proj(x).view(B, H, T, C // H)          # the head axis taken from the wrong place
        k = self.k_proj(ctx).view(B, H, S, C // H)
        v = self.v_proj(ctx).view(B, H, S, C // H)
        y, _ = attention(q, k, v, mask)
        return self.out_proj(y.reshape(B, T, C))
'''
MHA_WRONG_CONCAT = _MHA_HEAD + '''
        ctx = x if context is None else context
        B, T, C = x.shape
        S, H = ctx.shape[1], self.n_heads
        q = self.q_proj(x).view(B, T, H, C // H).transpose(1, 2)
        k = self.k_proj(ctx).view(B, S, H, C // H).transpose(1, 2)
        v = self.v_proj(ctx).view(B, S, H, C // H).transpose(1, 2)
        y, _ = attention(q, k, v, mask)
        return self.out_proj(y.reshape(B, T, C))           # concatenated without moving the heads back
'''
MHA_WRONG_TORCH = _MHA_HEAD + '''
        ctx = x if context is None else context
        mha = nn.MultiheadAttention(x.shape[-1], self.n_heads, batch_first=True).to(x.dtype)
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]))
            mha.in_proj_bias.copy_(torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]))
            mha.out_proj.weight.copy_(self.out_proj.weight)
            mha.out_proj.bias.copy_(self.out_proj.bias)
        if mask is not None and mask.dim() == 4:
            return mha(x, ctx, ctx, key_padding_mask=~mask[:, 0, 0])[0]
        return mha(x, ctx, ctx, attn_mask=None if mask is None else ~mask)[0]
'''
MHA_WRONG_SDPA = _MHA_HEAD + '''
        ctx = x if context is None else context
        B, T, C = x.shape
        split = lambda t: t.view(B, t.shape[1], self.n_heads, -1).transpose(1, 2)
        y = F.scaled_dot_product_attention(split(self.q_proj(x)), split(self.k_proj(ctx)), split(self.v_proj(ctx)),
                                           attn_mask=mask)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))
'''
MHA_BODY = '''
        ctx = x if context is None else context
        B, T, C = x.shape
        S, H = ctx.shape[1], self.n_heads
        q = self.q_proj(x).view(B, T, H, C // H).transpose(1, 2)
        k = self.k_proj(ctx).view(B, S, H, C // H).transpose(1, 2)
        v = self.v_proj(ctx).view(B, S, H, C // H).transpose(1, 2)
        y, w = attention(q, k, v, mask)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))
'''
MHA_WRONG_NO_MASK = _MHA_HEAD + MHA_BODY.replace("attention(q, k, v, mask)", "attention(q, k, v)")
MHA_WRONG_TUPLE = _MHA_HEAD + MHA_BODY.replace("return self.out_proj(y.transpose(1, 2).reshape(B, T, C))",
                                               "return self.out_proj(y.transpose(1, 2).reshape(B, T, C)), w")
MHA_WRONG_VALUES_FROM_X = _MHA_HEAD + MHA_BODY.replace("v = self.v_proj(ctx).view(B, S, H, C // H)",
                                                       "v = self.v_proj(x).view(B, T, H, C // H)")
MHA_WRONG_NO_OUT_PROJ = _MHA_HEAD + MHA_BODY.replace("return self.out_proj(y.transpose(1, 2).reshape(B, T, C))",
                                                     "return y.transpose(1, 2).reshape(B, T, C)")
MHA_WRONG_VIEW = _MHA_HEAD + MHA_BODY.replace("y.transpose(1, 2).reshape(B, T, C)", "y.transpose(1, 2).view(B, T, C)")
MHA_WRONG_SCALED_TWICE = _MHA_HEAD + MHA_BODY.replace("y, w = attention(q, k, v, mask)",
                                                      "y, w = attention(q / math.sqrt(C // H), k, v, mask)")

# ---------------------------------------------------------------- Part 5: LayerNorm
_LN_HEAD = '''
class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x):
'''
LN_RIGHT_VAR = _LN_HEAD + '''
        mu = x.mean(-1, keepdim=True)
        return self.weight * (x - mu) * torch.rsqrt(x.var(-1, keepdim=True, unbiased=False) + self.eps) + self.bias
'''
LN_RIGHT_VAR_MEAN = _LN_HEAD + '''
        var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
        return torch.addcmul(self.bias, (x - mean) / (var + self.eps).sqrt(), self.weight)
'''
LN_WRONG_UNBIASED = _LN_HEAD + '''
        mean = x.mean(dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(x.var(dim=-1, keepdim=True) + self.eps) * self.weight + self.bias
'''
LN_WRONG_EPS_OUTSIDE = _LN_HEAD + '''
        mean = x.mean(dim=-1, keepdim=True)
        std = ((x - mean) ** 2).mean(dim=-1, keepdim=True).sqrt()
        return (x - mean) / (std + self.eps) * self.weight + self.bias
'''
LN_WRONG_BATCH_AXIS = _LN_HEAD + '''
        mean = x.mean(dim=0, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
'''
LN_WRONG_NO_AFFINE = _LN_HEAD + '''
        mean = x.mean(dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(dim=-1, keepdim=True) + self.eps)
'''
LN_WRONG_TORCH = _LN_HEAD + '''
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)
'''
LN_WRONG_FIXED_EPS = _LN_HEAD + '''
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-5) * self.weight + self.bias
'''
LN_WRONG_IN_PLACE = _LN_HEAD + '''
        mean = x.mean(dim=-1, keepdim=True)
        x -= mean
        var = (x ** 2).mean(dim=-1, keepdim=True)
        return x / torch.sqrt(var + self.eps) * self.weight + self.bias
'''
LN_WRONG_SWAPPED = _LN_HEAD + '''
        mean = x.mean(dim=-1, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + self.eps) * self.bias + self.weight
'''
LN_WRONG_WHOLE_TENSOR = _LN_HEAD + '''
        mean = x.mean()
        var = ((x - mean) ** 2).mean()
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias
'''

# ---------------------------------------------------------------- Part 6: blocks
_BLOCK_HEAD = '''
class Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, pre_ln=True):
        super().__init__()
        self.pre_ln = pre_ln
        self.ln_1 = LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.ln_2 = LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
'''
BLOCK_RIGHT_SUBLAYERS = _BLOCK_HEAD + '''
        sublayers = [(self.ln_1, lambda z: self.attn(z, mask=mask)), (self.ln_2, self.ff)]
        for norm, sublayer in sublayers:
            x = x + sublayer(norm(x)) if self.pre_ln else norm(x + sublayer(x))
        return x
'''
BLOCK_WRONG_ALWAYS_POST = _BLOCK_HEAD + '''
        x = self.ln_1(x + self.attn(x, mask=mask))
        return self.ln_2(x + self.ff(x))
'''
BLOCK_WRONG_ALWAYS_PRE = _BLOCK_HEAD + '''
        x = x + self.attn(self.ln_1(x), mask=mask)
        return x + self.ff(self.ln_2(x))
'''
BLOCK_WRONG_RESIDUAL_FROM_NORM = _BLOCK_HEAD + '''
        if self.pre_ln:
            h = self.ln_1(x)
            x = h + self.attn(h, mask=mask)
            h = self.ln_2(x)
            return h + self.ff(h)
        x = self.ln_1(x + self.attn(x, mask=mask))
        return self.ln_2(x + self.ff(x))
'''
BLOCK_WRONG_MASK_DROPPED = _BLOCK_HEAD + '''
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x))
            return x + self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(x + self.ff(x))
'''
BLOCK_RIGHT_CONTEXT = _BLOCK_HEAD + '''
        if self.pre_ln:
            h = self.ln_1(x)
            x = x + self.attn(h, context=h, mask=mask)
            return x + self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, x, mask))
        return self.ln_2(x + self.ff(x))
'''
BLOCK_WRONG_ALWAYS_CAUSAL = _BLOCK_HEAD + '''
        causal = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril()
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x), mask=causal)
            return x + self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, mask=causal))
        return self.ln_2(x + self.ff(x))
'''
BLOCK_WRONG_NONE_IS_CAUSAL = _BLOCK_HEAD + '''
        if mask is None:
            mask = causal_mask(x.shape[1])
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x), mask=mask)
            return x + self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, mask=mask))
        return self.ln_2(x + self.ff(x))
'''
BLOCK_WRONG_ONE_NORM = _BLOCK_HEAD + '''
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x), mask=mask)
            return x + self.ff(self.ln_1(x))
        x = self.ln_1(x + self.attn(x, mask=mask))
        return self.ln_1(x + self.ff(x))
'''
BLOCK_WRONG_FF_NO_RESIDUAL = _BLOCK_HEAD + '''
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x), mask=mask)
            return self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, mask=mask))
        return self.ln_2(self.ff(x))
'''
BLOCK_WRONG_MASK_AS_CONTEXT = _BLOCK_HEAD + '''
        if self.pre_ln:
            x = x + self.attn(self.ln_1(x), mask)
            return x + self.ff(self.ln_2(x))
        x = self.ln_1(x + self.attn(x, mask))
        return self.ln_2(x + self.ff(x))
'''

# ---------------------------------------------------------------- Part 7: the dependency check
_DEP = '''
def position_dependency(f, x):
    {prepare}
    y = f(x)
    rows = []
    for t in range(y.shape[1]):
        (g,) = torch.autograd.grad({scalar}, x, retain_graph=True)
        rows.append({row})
    return torch.stack(rows)
'''
_RANDOM = "(y[:, t] * torch.randn_like(y[:, t])).sum()"
DEP_RIGHT_JACOBIAN = '''
def position_dependency(f, x):
    jac = torch.autograd.functional.jacobian(f, x.detach().clone())      # (B, T, C', B, T, C)
    return (jac != 0).any(dim=5).any(dim=3).any(dim=2).any(dim=0)
'''
DEP_RIGHT_PER_CHANNEL = '''
def position_dependency(f, x):
    xc = x.detach().clone().requires_grad_(True)
    y = f(xc)
    B, T, C2 = y.shape
    M = torch.zeros(T, xc.shape[1], dtype=torch.bool)
    for t in range(T):
        for c in range(C2):
            (g,) = torch.autograd.grad(y[:, t, c].sum(), xc, retain_graph=True)
            M[t] |= g.abs().sum(dim=(0, 2)) > 0
    return M
'''
_PREP = "x = x.detach().clone().requires_grad_(True)"
_ANY = "(g != 0).any(dim=2).any(dim=0)"
DEP_RIGHT_PER_FEATURE_PROBE = _DEP.format(prepare=_PREP, scalar="(y[:, t] * torch.randn(y.shape[-1], dtype=y.dtype)).sum()",
                                          row=_ANY)
DEP_RIGHT_ABS_SUM = _DEP.format(prepare=_PREP, scalar=_RANDOM, row="g.abs().sum(dim=(0, 2)) > 0")
DEP_WRONG_THRESHOLD = _DEP.format(prepare=_PREP, scalar=_RANDOM, row="(g.abs() > 1e-6).any(dim=2).any(dim=0)")
DEP_WRONG_SIGNED_FEATURES = _DEP.format(prepare=_PREP, scalar=_RANDOM, row="g.sum(dim=2).ne(0).any(dim=0)")
DEP_WRONG_SIGNED_BATCH = _DEP.format(prepare=_PREP, scalar="(y[:, t] * torch.randn(y.shape[-1], dtype=y.dtype)).sum()",
                                     row="(g.sum(dim=0) != 0).any(dim=-1)")
DEP_WRONG_SCALAR_PROBE = _DEP.format(prepare=_PREP, scalar="(y[:, t] * torch.randn(1, dtype=y.dtype)).sum()", row=_ANY)
DEP_WRONG_ACCUMULATED = '''
def position_dependency(f, x):
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    rows = []
    for t in range(y.shape[1]):
        (y[:, t] * torch.randn_like(y[:, t])).sum().backward(retain_graph=True)
        rows.append((x.grad != 0).any(dim=2).any(dim=0))        # x.grad is never zeroed: it accumulates
    return torch.stack(rows)
'''
DEP_WRONG_INTS = _DEP.format(prepare=_PREP, scalar=_RANDOM, row="(g != 0).any(dim=2).any(dim=0).int()")

RIGHT = {
    "positional_encoding": [PE_RIGHT_LOOPS, PE_RIGHT_EXP_LOG, PE_RIGHT_STACK],
    "attention": [ATT_RIGHT_EINSUM, ATT_RIGHT_MANUAL_SOFTMAX, ATT_RIGHT_FLOAT64_SOFTMAX],
    "masks": [MASKS_RIGHT, MASKS_RIGHT_AS_TENSOR],
    "multi_head_attention": [MHA_RIGHT_LOOP_OVER_HEADS, MHA_RIGHT_UNFLATTEN],
    "layer_norm": [LN_RIGHT_VAR, LN_RIGHT_VAR_MEAN],
    "block": [BLOCK_RIGHT_SUBLAYERS, BLOCK_RIGHT_CONTEXT],
    "position_dependency": [
        _DEP.format(prepare="x = x.detach().clone().requires_grad_(True)", scalar=_RANDOM,
                    row="(g != 0).any(dim=2).any(dim=0)"),
        DEP_RIGHT_JACOBIAN, DEP_RIGHT_PER_CHANNEL, DEP_RIGHT_PER_FEATURE_PROBE, DEP_RIGHT_ABS_SUM],
}

WRONG = {
    "positional_encoding": [
        ("exponent i/d instead of 2i/d", _PE.format(exponent="(j // 2)", even="math.sin(angle)", odd="math.cos(angle)")),
        ("sin and cos swapped", _PE.format(exponent="(j - j % 2)", even="math.cos(angle)", odd="math.sin(angle)")),
        ("every column its own frequency", _PE.format(exponent="j", even="math.sin(angle)", odd="math.cos(angle)")),
        ("sines then cosines, concatenated", '''
def positional_encoding(T, d_model):
    angles = torch.outer(torch.arange(T).float(), 1.0 / 10000 ** (torch.arange(0, d_model, 2).float() / d_model))
    return torch.cat([angles.sin(), angles.cos()], dim=1)
'''),
        ("odd d_model crashes", '''
def positional_encoding(T, d_model):
    angles = torch.outer(torch.arange(T).float(), 1.0 / 10000 ** (torch.arange(0, d_model, 2).float() / d_model))
    return torch.stack([angles.sin(), angles.cos()], dim=-1).view(T, d_model)
'''),
        ("returns float64", PE_WRONG_FLOAT64),
        ("positions counted from 1", PE_WRONG_FROM_ONE),
        ("a batch axis in front: (1, T, d_model)", PE_WRONG_BATCH_AXIS),
        ("returns a numpy array", PE_WRONG_NUMPY),
        ("10000 ** 2i / d_model (precedence)", PE_WRONG_PRECEDENCE),
    ],
    "attention": [
        ("missing √d_k", '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1))
    return weights @ v, weights
'''),
        ("divides by d_k, not its square root", '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1))
    return weights @ v, weights
'''),
        ("mask applied after the softmax", '''
def attention(q, k, v, mask=None):
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights
'''),
        ("softmax over the queries", '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-2))
    return weights @ v, weights
'''),
        ("-1e9 instead of -inf: a fully masked row averages every value", '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
        ("a fully masked row gives NaN", '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights
'''),
        ("a wrapper around F.scaled_dot_product_attention", '''
def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(torch.softmax(scores, dim=-1))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights
'''),
        ("a wrapper around course_lib", '''
from course_lib.transformer import scaled_dot_product_attention as attention
'''),
        ("q /= sqrt(d_k) changes the caller's q", ATT_WRONG_IN_PLACE),
        ("returns the output only", ATT_WRONG_OUTPUT_ONLY),
        ("k.transpose(1, 2): only 3-D inputs work", ATT_WRONG_TRANSPOSE_1_2),
        ("masked_fill where the mask is True", ATT_WRONG_MASK_NOT_INVERTED),
        ("scaled by √d_v", ATT_WRONG_SQRT_DV),
        ("scores multiplied by the mask", ATT_WRONG_MASK_TIMES_SCORES),
    ],
    "masks": [
        ("causal mask transposed (upper triangle)", '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).triu()


def padding_mask(lengths, T):
    return (torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None])[:, None, None, :]
'''),
        ("causal mask without the diagonal", '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril(-1)


def padding_mask(lengths, T):
    return (torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None])[:, None, None, :]
'''),
        ("padding mask of shape (B, T)", '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def padding_mask(lengths, T):
    return torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]
'''),
        ("padding mask that keeps one token too many", '''
def causal_mask(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


def padding_mask(lengths, T):
    return (torch.arange(T)[None, :] <= torch.as_tensor(lengths)[:, None])[:, None, None, :]
'''),
        ("masks of 0/1 floats", '''
def causal_mask(T):
    return torch.ones(T, T).tril()


def padding_mask(lengths, T):
    return (torch.arange(T)[None, :] < torch.as_tensor(lengths)[:, None]).float()[:, None, None, :]
'''),
        ("padding mask unsqueeze_s the caller's lengths", MASKS_WRONG_UNSQUEEZE_),
        ("padding mask of width max(lengths)", MASKS_WRONG_MAX_WIDTH),
        ("padding mask True for the padding", MASKS_WRONG_INVERTED),
        ("padding mask fails on a list of lengths", MASKS_WRONG_LIST),
        ("causal mask True where blocked (triu(1))", MASKS_WRONG_BLOCKED_TRUE),
    ],
    "multi_head_attention": [
        ("heads split along the wrong axis", MHA_WRONG_SPLIT),
        ("heads concatenated without transposing back", MHA_WRONG_CONCAT),
        ("a wrapper around nn.MultiheadAttention", MHA_WRONG_TORCH),
        ("a wrapper around F.scaled_dot_product_attention", MHA_WRONG_SDPA),
        ("cross-attention takes keys from x", _MHA_HEAD + '''
        ctx = x if context is None else context
        B, T, C = x.shape
        split = lambda t: t.view(B, t.shape[1], self.n_heads, -1).transpose(1, 2)
        y, _ = attention(split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(ctx)), mask)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, C))
'''),
        ("mask not passed to the attention", MHA_WRONG_NO_MASK),
        ("returns (output, weights)", MHA_WRONG_TUPLE),
        ("cross-attention takes values from x", MHA_WRONG_VALUES_FROM_X),
        ("no output projection", MHA_WRONG_NO_OUT_PROJ),
        ("view after transpose (not contiguous)", MHA_WRONG_VIEW),
        ("queries scaled again before attention", MHA_WRONG_SCALED_TWICE),
    ],
    "layer_norm": [
        ("unbiased variance", LN_WRONG_UNBIASED),
        ("eps outside the square root", LN_WRONG_EPS_OUTSIDE),
        ("normalised over the batch, not the features", LN_WRONG_BATCH_AXIS),
        ("weight and bias ignored", LN_WRONG_NO_AFFINE),
        ("a wrapper around F.layer_norm", LN_WRONG_TORCH),
        ("eps ignored (always 1e-5)", LN_WRONG_FIXED_EPS),
        ("x -= mean changes the input", LN_WRONG_IN_PLACE),
        ("weight and bias swapped", LN_WRONG_SWAPPED),
        ("normalised over the whole tensor", LN_WRONG_WHOLE_TENSOR),
    ],
    "block": [
        ("post-LN where pre-LN was asked", BLOCK_WRONG_ALWAYS_POST),
        ("pre-LN where post-LN was asked", BLOCK_WRONG_ALWAYS_PRE),
        ("residual taken from the normalised x", BLOCK_WRONG_RESIDUAL_FROM_NORM),
        ("mask not passed to the attention", BLOCK_WRONG_MASK_DROPPED),
        ("ignores its mask, always causal", BLOCK_WRONG_ALWAYS_CAUSAL),
        ("mask=None treated as causal", BLOCK_WRONG_NONE_IS_CAUSAL),
        ("ln_1 used for both sub-layers", BLOCK_WRONG_ONE_NORM),
        ("feed-forward without its residual", BLOCK_WRONG_FF_NO_RESIDUAL),
        ("mask passed as the context", BLOCK_WRONG_MASK_AS_CONTEXT),
    ],
    "position_dependency": [
        ("rows and columns swapped", _DEP.format(
            prepare="x = x.detach().clone().requires_grad_(True)", scalar=_RANDOM,
            row="(g != 0).any(dim=2).any(dim=0)").replace("torch.stack(rows)", "torch.stack(rows).T")),
        ("plain sum: blind behind a LayerNorm", _DEP.format(
            prepare="x = x.detach().clone().requires_grad_(True)", scalar="y[:, t].sum()",
            row="(g != 0).any(dim=2).any(dim=0)")),
        ("looks at the first sequence only", _DEP.format(
            prepare="x = x.detach().clone().requires_grad_(True)", scalar=_RANDOM,
            row="(g[0] != 0).any(dim=-1)")),
        ("changes x in place (requires_grad)", _DEP.format(
            prepare="x.requires_grad_(True)", scalar=_RANDOM, row="(g != 0).any(dim=2).any(dim=0)")),
        ("a wrapper around course_lib", '''
from course_lib.transformer import position_dependency
'''),
        ("|grad| > 1e-6 instead of != 0", DEP_WRONG_THRESHOLD),
        ("signed sum of the gradient over features", DEP_WRONG_SIGNED_FEATURES),
        ("signed sum of the gradient over the batch", DEP_WRONG_SIGNED_BATCH),
        ("one random number for all of y[:, t]", DEP_WRONG_SCALAR_PROBE),
        ("x.grad accumulated over t", DEP_WRONG_ACCUMULATED),
        ("returns 0/1 ints", DEP_WRONG_INTS),
    ],
}

HEADLINE = {
    "positional_encoding": ("exponent i/d instead of 2i/d", "10000^(2i/d_model)"),
    "attention": ("missing √d_k", "√d_k"),
    "masks": ("causal mask transposed (upper triangle)", "transposed"),
    "multi_head_attention": ("heads split along the wrong axis", "split into heads"),
    "layer_norm": ("unbiased variance", "unbiased variance"),
    "block": ("post-LN where pre-LN was asked", "post-LN order"),
    "position_dependency": ("rows and columns swapped", "transposed"),
}
