"""Variants of the ch05 answers: other correct implementations pass every test, classic mistakes fail.

RIGHT[answer] are correct answers written differently; WRONG[answer] plausible mistakes that a
graded test at or after the part must fail; HEADLINE[answer] names the part's headline mistake
(a label in WRONG) and words its VISIBLE test's failure message must contain.
"""

_TOKENIZER = '''
def build_vocab(text):
    {vocab}

def encode(s, vocab):
    {encode}

def decode(ids, vocab):
    {decode}
'''


def _tok(vocab="return sorted(set(text))",
         encode="stoi = {ch: i for i, ch in enumerate(vocab)}\n    return [stoi[ch] for ch in s]",
         decode='return "".join(vocab[int(i)] for i in ids)'):
    return _TOKENIZER.format(vocab=vocab, encode=encode, decode=decode)


_GET_BATCH = '''
def get_batch(data, block_size, batch_size, generator=None):
    starts = {starts}
    x = torch.stack([data[i:i + block_size] for i in starts.tolist()])
    y = torch.stack([data[{y_from}:{y_from} + block_size] for i in starts.tolist()])
    return x, y
'''


def _batch(starts="torch.randint(len(data) - block_size, (batch_size,), generator=generator)", y_from="i + 1"):
    return _GET_BATCH.format(starts=starts, y_from=y_from)


_ATTENTION = '''
class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        {split}
        q, k, v = ({heads} for t in (q, k, v))
        att = q @ k.transpose(-2, -1){scale}
        {mask}
        att = att.softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)
'''


def _attn(split="q, k, v = self.c_attn(x).split(C, dim=2)",
          heads="t.view(B, T, self.n_head, hs).transpose(1, 2)",
          scale=" / math.sqrt(hs)",
          mask="att = att.masked_fill(torch.ones(T, T).triu(1).bool(), float('-inf'))"):
    return _ATTENTION.format(split=split, heads=heads, scale=scale, mask=mask)


_ATTN_SDPA = '''
class CausalSelfAttention(nn.Module):
    """With PyTorch's fused attention, and a causal-mask buffer as nanoGPT's slow path keeps one."""
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head, self.n_embd = config.n_head, config.n_embd
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size)))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).chunk(3, dim=-1)
        q = q.reshape(B, T, self.n_head, -1).permute(0, 2, 1, 3)
        k = k.reshape(B, T, self.n_head, -1).permute(0, 2, 1, 3)
        v = v.reshape(B, T, self.n_head, -1).permute(0, 2, 1, 3)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.permute(0, 2, 1, 3).reshape(B, T, C))
'''

_ATTN_LOOP = '''
class CausalSelfAttention(nn.Module):
    """One head at a time, with a softmax written out."""
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        qkv = self.c_attn(x)
        q, k, v = qkv[..., :C], qkv[..., C:2 * C], qkv[..., 2 * C:]
        allowed = torch.tril(torch.ones(T, T)) == 1
        outs = []
        for h in range(self.n_head):
            sl = slice(h * hs, (h + 1) * hs)
            s = torch.einsum("btd,bsd->bts", q[..., sl], k[..., sl]) / hs ** 0.5
            s = torch.where(allowed, s, torch.tensor(float("-inf")))
            s = torch.exp(s - s.max(dim=-1, keepdim=True).values)
            outs.append((s / s.sum(dim=-1, keepdim=True)) @ v[..., sl])
        return self.c_proj(torch.cat(outs, dim=-1))
'''

_GPT = '''
class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        {block}


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        {tie}
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            torch.nn.init.zeros_(m.bias)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        assert T <= self.config.block_size, "sequence too long"
        x = self.transformer.wte(idx){pos}
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())
'''


def _gpt(block="x = x + self.attn(self.ln_1(x))\n        x = x + self.mlp(self.ln_2(x))\n        return x",
         tie="self.lm_head.weight = self.transformer.wte.weight",
         pos=" + self.transformer.wpe(torch.arange(T))"):
    return _GPT.format(block=block, tie=tie, pos=pos)


_INIT_LOSS = '''
def expected_loss_at_init(vocab_size):
    return {expected}


def measured_loss(model, data, block_size, batch_size=8, n_batches=4, generator=None):
    mode = model.training
    {eval}
    total = 0.0
    with torch.no_grad():
        for _ in range(n_batches):
            x, y = get_batch(data, block_size, batch_size, generator)
            total += model(x, y)[1].item()
    {restore}
    return total / n_batches
'''


def _init_loss(expected="math.log(vocab_size)", eval="model.eval()", restore="model.train(mode)"):
    return _INIT_LOSS.format(expected=expected, eval=eval, restore=restore)


_SAMPLE = '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    {scale}
    if top_k is not None:
        {topk}
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
'''


def _sample(scale="logits = logits / temperature",
            topk="kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]\n"
                 "        logits = torch.where(logits < kth, torch.full_like(logits, float('-inf')), logits)"):
    return _SAMPLE.format(scale=scale, topk=topk)


_SURPRISAL = '''
def surprisal_bits(model, ids):
    ids = torch.as_tensor(ids).long()
    with torch.no_grad():
        logits, _ = model(ids[None, :-1], ids[None, 1:])
    nats = F.cross_entropy({logits}, {targets}, reduction="none")
    return nats{unit}
'''


def _surprisal(logits="logits[0]", targets="ids[1:]", unit=" / math.log(2)"):
    return _SURPRISAL.format(logits=logits, targets=targets, unit=unit)


_MFU = '''
def flops_per_token(n_params, n_layer, n_head, head_size, seq_len):
    return {fpt}


def model_flops_utilization(flops_per_token, tokens_per_step, step_seconds, peak_flops):
    return {mfu}
'''


def _mfu(fpt="6 * n_params + 12 * n_layer * n_head * head_size * seq_len",
         mfu="flops_per_token * tokens_per_step / step_seconds / peak_flops"):
    return _MFU.format(fpt=fpt, mfu=mfu)


RIGHT = {
    "tokenizer": [
        _tok(),
        _tok(vocab='return "".join(sorted(set(text)))',
             encode="out = []\n    for ch in s:\n        if ch not in vocab:\n"
                    "            raise ValueError(f'unknown character {ch!r}')\n        out.append(vocab.index(ch))\n    return out",
             decode="return ''.join([vocab[i] for i in torch.as_tensor(ids).tolist()])"),
    ],
    "get_batch": [
        _batch(),
        # one gather: a (B, T + 1) index grid, then x and y as its two overlapping slices
        "def get_batch(data, block_size, batch_size, generator=None):\n"
        "    ix = torch.randint(0, len(data) - block_size, (batch_size, 1), generator=generator)\n"
        "    window = data[ix + torch.arange(block_size + 1)]\n"
        "    return window[:, :-1].clone(), window[:, 1:].clone()\n",
    ],
    "attention": [_attn(), _ATTN_SDPA, _ATTN_LOOP],
    "gpt": [
        _gpt(),
        _gpt(block="h = x + self.attn(self.ln_1(x))\n        return h + self.mlp(self.ln_2(h))",
             tie="self.transformer['wte'].weight = self.lm_head.weight",
             pos=" + self.transformer.wpe.weight[:T]"),
    ],
    "init_loss": [
        _init_loss(),
        _init_loss(expected="float(torch.tensor(float(vocab_size)).log())", eval="model.train(False)",
                   restore="model.train(mode) if mode else None"),
    ],
    "sample": [
        _sample(),
        # probabilities first, then zero the rows' tails and draw by inverse CDF with torch.rand
        "def sample_next(logits, temperature=1.0, top_k=None, generator=None):\n"
        "    p = torch.softmax(logits / temperature, dim=-1)\n"
        "    if top_k is not None and top_k < p.size(-1):\n"
        "        kth = p.sort(dim=-1, descending=True).values[:, top_k - 1:top_k]\n"
        "        p = torch.where(p >= kth, p, torch.zeros_like(p))\n"
        "    cdf = (p / p.sum(-1, keepdim=True)).cumsum(-1)\n"
        "    u = torch.rand(p.size(0), 1, generator=generator)\n"
        "    return torch.searchsorted(cdf, u * cdf[:, -1:]).squeeze(-1).clamp(max=p.size(-1) - 1)\n",
    ],
    "surprisal": [
        _surprisal(),
        # position by position, with log2 of the softmax
        "def surprisal_bits(model, ids):\n"
        "    ids = list(torch.as_tensor(ids).tolist())\n"
        "    out = []\n"
        "    with torch.no_grad():\n"
        "        logits, _ = model(torch.tensor([ids[:-1]]), torch.tensor([ids[1:]]))\n"
        "    for t in range(len(ids) - 1):\n"
        "        out.append(-torch.log2(torch.softmax(logits[0, t].double(), -1)[ids[t + 1]]))\n"
        "    return torch.stack(out).float()\n",
    ],
    "mfu": [
        _mfu(),
        _mfu(fpt="(2 + 4) * n_params + 3 * 4 * n_layer * (n_head * head_size) * seq_len",
             mfu="(flops_per_token * tokens_per_step) / (peak_flops * step_seconds)"),
    ],
}

WRONG = {
    "tokenizer": [
        ("characters numbered in order of first appearance", _tok(vocab="return list(dict.fromkeys(text))")),
        ("decode off by one", _tok(decode='return "".join(vocab[int(i) - 1] for i in ids)')),
        ("unknown characters skipped silently",
         _tok(encode="stoi = {ch: i for i, ch in enumerate(vocab)}\n    return [stoi[ch] for ch in s if ch in stoi]")),
    ],
    "get_batch": [
        ("targets not shifted (y = x)", _batch(y_from="i")),
        ("the last window is never drawn", _batch(starts="torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)")),
        ("the generator is ignored", _batch(starts="torch.randint(len(data) - block_size, (batch_size,))")),
    ],
    "attention": [
        ("no causal mask", _attn(mask="pass")),
        ("no 1/sqrt(head size) scale", _attn(scale="")),
        ("q, k, v taken in the wrong order", _attn(split="k, q, v = self.c_attn(x).split(C, dim=2)")),
        ("heads cut from the wrong axis", _attn(heads="t.view(B, T, hs, self.n_head).transpose(1, 3).transpose(2, 3)")),
    ],
    "gpt": [
        ("post-LayerNorm block", _gpt(block="x = self.ln_1(x + self.attn(x))\n        return self.ln_2(x + self.mlp(x))")),
        ("lm_head not tied to wte", _gpt(tie="pass")),
        ("no position embedding", _gpt(pos="")),
        ("no residual connections", _gpt(block="x = self.attn(self.ln_1(x))\n        return self.mlp(self.ln_2(x))")),
    ],
    "init_loss": [
        ("log base 2 instead of the natural log", _init_loss(expected="math.log2(vocab_size)")),
        ("model left in evaluation mode", _init_loss(restore="pass")),
        ("dropout left on", _init_loss(eval="pass")),
    ],
    "sample": [
        ("logits multiplied by the temperature", _sample(scale="logits = logits * temperature")),
        ("top-k zeroes logits instead of -inf",
         _sample(topk="kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]\n"
                      "        logits = torch.where(logits < kth, torch.zeros_like(logits), logits)")),
        ("temperature divided in place (changes the caller's logits)", _sample(scale="logits /= temperature")),
        ("one top-k threshold for the whole batch",
         _sample(topk="kth = torch.topk(logits.flatten(), min(top_k, logits.size(-1))).values[-1]\n"
                      "        logits = logits.masked_fill(logits < kth, float('-inf'))")),
    ],
    "surprisal": [
        ("nats instead of bits", _surprisal(unit="")),
        ("scored against the current token, not the next", _surprisal(targets="ids[:-1]")),
    ],
    "mfu": [
        ("forward pass only (2N)", _mfu(fpt="2 * n_params + 4 * n_layer * n_head * head_size * seq_len")),
        ("attention term left out", _mfu(fpt="6 * n_params")),
        ("MFU in percent", _mfu(mfu="100 * flops_per_token * tokens_per_step / step_seconds / peak_flops")),
    ],
}

HEADLINE = {
    "tokenizer": ("characters numbered in order of first appearance", "sorted order"),
    "get_batch": ("targets not shifted (y = x)", "shifted by one"),
    "attention": ("no causal mask", "not causal"),
    "gpt": ("post-LayerNorm block", "pre-LayerNorm"),
    "init_loss": ("log base 2 instead of the natural log", "natural log"),
    "sample": ("logits multiplied by the temperature", "Divide the logits by the temperature"),
    "surprisal": ("nats instead of bits", "in bits"),
    "mfu": ("forward pass only (2N)", "backward 4 n_params"),
}
