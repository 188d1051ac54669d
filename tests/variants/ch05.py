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

_GPT_INIT_ONLY_LINEAR = _gpt().replace("""    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):""", """    def _init(m):
        if isinstance(m, nn.Linear):                          # wte is tied to lm_head; wpe is forgotten""")
_GPT_DEFAULT_BIASES = _gpt().replace("""        if isinstance(m, nn.Linear) and m.bias is not None:
            torch.nn.init.zeros_(m.bias)""", "")
_GPT_LAST_POSITION = _gpt().replace("""        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None""", """        x = self.transformer.ln_f(x)
        if targets is None:
            return self.lm_head(x[:, [-1], :]), None          # nanoGPT's inference shortcut
        logits = self.lm_head(x)""")
_GPT_NO_LN_F = _gpt().replace("logits = self.lm_head(self.transformer.ln_f(x))", "logits = self.lm_head(x)")
_GPT_STD_SQUARED = _gpt().replace("torch.nn.init.normal_(m.weight, std=0.02)", "torch.nn.init.normal_(m.weight, std=0.02 ** 2)")
_GPT_ALL_PARAMS = _gpt().replace("self.apply(self._init)", """for p in self.parameters():
            torch.nn.init.normal_(p, std=0.02)""")
_GPT_VIEW = _gpt().replace("return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())",
                           "return logits, F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))")
_GPT_LOGITS_ONLY = _gpt().replace("""        if targets is None:
            return logits, None""", """        if targets is None:
            return logits""")
_GPT_ONLY_EMBEDDINGS = _gpt().replace("""    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):""", """    def _init(m):
        if isinstance(m, nn.Embedding):""")
_GPT_RIGHT_SCALED = _gpt().replace("self.apply(self._init)", """self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layer))""")

_MEASURED = '''
def expected_loss_at_init(vocab_size):
    return math.log(vocab_size)


def measured_loss(model, data, block_size, batch_size=8, n_batches=4, generator=None):
    {body}
'''
_MEASURED_FIXED_COUNT = _MEASURED.format(body='''mode = model.training
    model.eval()
    with torch.no_grad():
        losses = [model(*get_batch(data, block_size, batch_size, generator))[1].item() for _ in range(4)]
    model.train(mode)
    return sum(losses) / len(losses)''')
_MEASURED_MODEL_BLOCK = _MEASURED.format(body='''mode = model.training
    model.eval()
    with torch.no_grad():
        losses = [model(*get_batch(data, model.config.block_size, batch_size, generator))[1].item()
                  for _ in range(n_batches)]
    model.train(mode)
    return sum(losses) / len(losses)''')
_MEASURED_ALWAYS_TRAIN = _init_loss(restore="model.train()")
_MEASURED_TENSOR = _MEASURED.format(body='''mode = model.training
    model.eval()
    with torch.no_grad():
        losses = torch.stack([model(*get_batch(data, block_size, batch_size, generator))[1] for _ in range(n_batches)])
    model.train(mode)
    return losses.mean()''')
_MEASURED_RIGHT_TENSOR = _MEASURED_TENSOR.replace("return losses.mean()", "return losses.mean().item()")
_EXPECTED_TENSOR = _init_loss(expected="torch.log(torch.tensor(float(vocab_size)))")
_MEASURED_FIXED_BATCH = _MEASURED.format(body='''mode = model.training
    model.eval()
    with torch.no_grad():
        losses = [model(*get_batch(data, block_size, 8, generator))[1].item() for _ in range(n_batches)]
    model.train(mode)
    return sum(losses) / len(losses)''')
_MEASURED_NO_GENERATOR = _MEASURED.format(body='''mode = model.training
    model.eval()
    with torch.no_grad():
        losses = [model(*get_batch(data, block_size, batch_size))[1].item() for _ in range(n_batches)]
    model.train(mode)
    return sum(losses) / len(losses)''')
_MEASURED_GRAD = _MEASURED.format(body='''mode = model.training
    model.eval()
    losses = [model(*get_batch(data, block_size, batch_size, generator))[1].item() for _ in range(n_batches)]
    model.train(mode)
    return sum(losses) / len(losses)''')
_MEASURED_SUM = _init_loss().replace("return total / n_batches", "return total")

_SAMPLE_INPLACE_AT_ONE = '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    if temperature != 1.0:
        logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits[logits < kth] = float("-inf")              # in place: at temperature 1 these are the caller's logits
    return torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)
'''
_SAMPLE_ARGMAX = _sample().replace("return torch.multinomial(probs, 1, generator=generator).squeeze(-1)",
                                   "return probs.argmax(dim=-1)")
_SAMPLE_NO_GENERATOR = _sample().replace("torch.multinomial(probs, 1, generator=generator)", "torch.multinomial(probs, 1)")
_SAMPLE_TOPK_TOO_BIG = _sample(topk="kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]\n"
                                    "        logits = logits.masked_fill(logits < kth, float('-inf'))")
_SAMPLE_COLUMN = _sample().replace("torch.multinomial(probs, 1, generator=generator).squeeze(-1)",
                                   "torch.multinomial(probs, 1, generator=generator)")
_SAMPLE_SOFTMAX_DIM0 = _sample().replace("probs = F.softmax(logits, dim=-1)", "probs = F.softmax(logits, dim=0)")
_SAMPLE_INT32 = _sample().replace("torch.multinomial(probs, 1, generator=generator).squeeze(-1)",
                                  "torch.multinomial(probs, 1, generator=generator).squeeze(-1).int()")
_SAMPLE_K_PLUS_ONE = _sample(topk="kth = logits.sort(dim=-1, descending=True).values[:, min(top_k, logits.size(-1) - 1)]\n"
                                  "        logits = logits.masked_fill(logits < kth[:, None], float('-inf'))")
_SAMPLE_RIGHT_GUMBEL = '''
def sample_next(logits, temperature=1.0, top_k=None, generator=None):
    z = logits.clone() / temperature
    if top_k is not None and top_k < z.shape[1]:
        v, _ = z.topk(top_k, dim=1)
        z[z < v[:, [-1]]] = -float("inf")                  # in place on a copy: the caller's logits are untouched
    return torch.multinomial(z.softmax(dim=1), num_samples=1, generator=generator)[:, 0]
'''

_SURPRISAL_FULL = '''
def surprisal_bits(model, ids):
    ids = torch.as_tensor(ids).long()
    with torch.no_grad():
        logits, _ = model(ids[None, :])                    # all len(ids) tokens: one more than needed
    logp = F.log_softmax(logits[0, :-1], dim=-1)
    return -logp[torch.arange(len(ids) - 1), ids[1:]] / math.log(2)
'''
_SURPRISAL_LIST = '''
def surprisal_bits(model, ids):
    ids = list(torch.as_tensor(ids).tolist())
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]))
    p = logits[0].softmax(-1)
    return [-math.log2(p[t, ids[t + 1]].item()) for t in range(len(ids) - 1)]
'''
_SURPRISAL_LOG10 = _surprisal(unit=" / math.log(10)")
_SURPRISAL_NO_LIST = '''
def surprisal_bits(model, ids):
    with torch.no_grad():
        logits, _ = model(ids[None, :-1], ids[None, 1:])
    return F.cross_entropy(logits[0], ids[1:], reduction="none") / math.log(2)
'''
_SURPRISAL_2D = _surprisal(logits="logits.transpose(1, 2)", targets="ids[None, 1:]")
_SURPRISAL_WITH_FIRST = '''
def surprisal_bits(model, ids):
    ids = torch.as_tensor(ids).long()
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
    bits = F.cross_entropy(logits[0], ids[1:], reduction="none") / math.log(2)
    return torch.cat([torch.zeros(1), bits])               # a 0 for the first token
'''
_SURPRISAL_SIGN = _surprisal(unit=" / -math.log(2)")
_SURPRISAL_RIGHT_NO_TARGETS = '''
def surprisal_bits(model, ids):
    ids = torch.as_tensor(ids, dtype=torch.long)
    with torch.no_grad():
        logits = model(ids[:-1].unsqueeze(0))[0][0]        # (T, V): without targets, every position
    return -torch.log2(torch.softmax(logits, dim=-1)).gather(1, ids[1:, None])[:, 0]
'''

RIGHT = {
    "tokenizer": [
        _tok(),
        _tok(encode="table = dict(zip(vocab, range(len(vocab))))\n    return [table[c] for c in s]",
             decode="itos = dict(enumerate(vocab))\n    return ''.join(itos[int(i)] for i in ids)"),
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
        # x and y as non-contiguous views of one (B, T + 1) tensor (the text allows it)
        "def get_batch(data, block_size, batch_size, generator=None):\n"
        "    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)\n"
        "    window = torch.stack([data[i:i + block_size + 1] for i in ix.tolist()])\n"
        "    return window[:, :-1], window[:, 1:]\n",
        # unfold: every window, then pick rows
        "def get_batch(data, block_size, batch_size, generator=None):\n"
        "    windows = data.unfold(0, block_size + 1, 1)          # (len - block_size, block_size + 1), a view\n"
        "    rows = windows[torch.randint(windows.shape[0], (batch_size,), generator=generator)]\n"
        "    return rows[:, :block_size], rows[:, 1:]\n",
    ],
    "attention": [_attn(), _ATTN_SDPA, _ATTN_LOOP],
    "gpt": [
        _gpt(),
        _gpt(block="h = x + self.attn(self.ln_1(x))\n        return h + self.mlp(self.ln_2(h))",
             tie="self.transformer['wte'].weight = self.lm_head.weight",
             pos=" + self.transformer.wpe.weight[:T]"),
        _GPT_RIGHT_SCALED,
    ],
    "init_loss": [
        _init_loss(),
        _init_loss(expected="float(torch.tensor(float(vocab_size)).log())", eval="model.train(False)",
                   restore="model.train(mode) if mode else None"),
        _MEASURED_RIGHT_TENSOR,
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
        _SAMPLE_RIGHT_GUMBEL,
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
        _SURPRISAL_RIGHT_NO_TARGETS,
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
        ("vocabulary as a set (no order)", _tok(vocab="return set(text)",
                                                encode="stoi = {ch: i for i, ch in enumerate(sorted(vocab))}\n"
                                                       "    return [stoi[ch] for ch in s]",
                                                decode='return "".join(sorted(vocab)[int(i)] for i in ids)')),
        ("decode returns a list of characters", _tok(decode="return [vocab[int(i)] for i in ids]")),
        ("encode returns a tensor", _tok(encode="stoi = {ch: i for i, ch in enumerate(vocab)}\n"
                                                "    return torch.tensor([stoi[ch] for ch in s], dtype=torch.long)")),
        ("unknown characters mapped to 0", _tok(encode="stoi = {ch: i for i, ch in enumerate(vocab)}\n"
                                                       "    return [stoi.get(ch, 0) for ch in s]")),
        ("vocabulary sorted by frequency", _tok(vocab="from collections import Counter\n"
                                                      "    return [ch for ch, _ in Counter(text).most_common()]")),
        ("every character of the text, duplicates included", _tok(vocab="return sorted(text)")),
        ("decode looks tensor ids up in a dict", _tok(decode="itos = dict(enumerate(vocab))\n"
                                                             "    return ''.join(itos[i] for i in ids)")),
    ],
    "get_batch": [
        ("targets not shifted (y = x)", _batch(y_from="i")),
        ("the last window is never drawn", _batch(starts="torch.randint(len(data) - block_size - 1, (batch_size,), generator=generator)")),
        ("the generator is ignored", _batch(starts="torch.randint(len(data) - block_size, (batch_size,))")),
        ("starts up to len(data) - block_size (a window without its next token)",
         _batch(starts="torch.randint(len(data) - block_size + 1, (batch_size,), generator=generator)")),
        ("starts without replacement (randperm)",
         _batch(starts="torch.randperm(len(data) - block_size, generator=generator)[:batch_size]")),
        ("start 0 never drawn", _batch(starts="torch.randint(1, len(data) - block_size, (batch_size,), generator=generator)")),
        ("Python's random module", _batch(starts="torch.tensor([__import__('random').randrange(len(data) - block_size) "
                                                 "for _ in range(batch_size)])")),
        ("x and y of block_size + 1 tokens", _GET_BATCH.format(
            starts="torch.randint(len(data) - block_size, (batch_size,), generator=generator)", y_from="i + 1")
         .replace("data[i:i + block_size]", "data[i:i + block_size + 1]")),
        ("int32 tokens", _batch() .replace("return x, y", "return x.int(), y.int()")),
    ],
    "attention": [
        ("no causal mask", _attn(mask="pass")),
        ("no 1/sqrt(head size) scale", _attn(scale="")),
        ("q, k, v taken in the wrong order", _attn(split="k, q, v = self.c_attn(x).split(C, dim=2)")),
        ("heads cut from the wrong axis", _attn(heads="t.view(B, T, hs, self.n_head).transpose(1, 3).transpose(2, 3)")),
        ("the diagonal masked too", _attn(mask="att = att.masked_fill(torch.ones(T, T).triu(0).bool(), float('-inf'))")),
        ("mask applied after the softmax", _attn(mask="pass").replace(
            "att = att.softmax(dim=-1)", "att = att.softmax(dim=-1) * torch.ones(T, T).tril()")),
        ("c_proj not applied", _attn().replace("return self.c_proj(y)", "return y")),
        ("biases whatever config.bias says", _attn().replace("bias=config.bias", "bias=True")),
        ("a (block_size, block_size) mask not cut to T", _attn(mask="att = att.masked_fill(~self.mask, float('-inf'))")
         .replace("self.n_head = config.n_head", "self.n_head = config.n_head\n        self.register_buffer("
                  "'mask', torch.ones(config.block_size, config.block_size).tril().bool())")),
        ("scores scaled by sqrt(C), not sqrt(head size)", _attn(scale=" / math.sqrt(C)")),
        ("F.scaled_dot_product_attention without is_causal", _ATTN_SDPA.replace("is_causal=True", "is_causal=False")),
    ],
    "gpt": [
        ("post-LayerNorm block", _gpt(block="x = self.ln_1(x + self.attn(x))\n        return self.ln_2(x + self.mlp(x))")),
        ("lm_head not tied to wte", _gpt(tie="pass")),
        ("no position embedding", _gpt(pos="")),
        ("no residual connections", _gpt(block="x = self.attn(self.ln_1(x))\n        return self.mlp(self.ln_2(x))")),
        ("wpe left at N(0, 1)", _GPT_INIT_ONLY_LINEAR),
        ("biases left at PyTorch's init", _GPT_DEFAULT_BIASES),
        ("(B, 1, V) logits without targets", _GPT_LAST_POSITION),
        ("no final LayerNorm", _GPT_NO_LN_F),
        ("standard deviation 0.02² instead of 0.02", _GPT_STD_SQUARED),
        ("every parameter from N(0, 0.02²), LayerNorms too", _GPT_ALL_PARAMS),
        ("targets.view fails on a non-contiguous batch", _GPT_VIEW),
        ("returns the logits alone without targets", _GPT_LOGITS_ONLY),
        ("only the embeddings initialised", _GPT_ONLY_EMBEDDINGS),
    ],
    "init_loss": [
        ("log base 2 instead of the natural log", _init_loss(expected="math.log2(vocab_size)")),
        ("model left in evaluation mode", _init_loss(restore="pass")),
        ("dropout left on", _init_loss(eval="pass")),
        ("n_batches ignored (always 4)", _MEASURED_FIXED_COUNT),
        ("block_size ignored (the model's)", _MEASURED_MODEL_BLOCK),
        ("always ends in training mode", _MEASURED_ALWAYS_TRAIN),
        ("measured_loss returns a 0-d tensor", _MEASURED_TENSOR),
        ("expected_loss_at_init returns a 0-d tensor", _EXPECTED_TENSOR),
        ("batch_size ignored (always 8)", _MEASURED_FIXED_BATCH),
        ("the generator is not passed to get_batch", _MEASURED_NO_GENERATOR),
        ("no torch.no_grad", _MEASURED_GRAD),
        ("sum of the batch losses, not their mean", _MEASURED_SUM),
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
        ("-inf written into the caller's logits at temperature 1", _SAMPLE_INPLACE_AT_ONE),
        ("argmax instead of a draw", _SAMPLE_ARGMAX),
        ("the generator is ignored", _SAMPLE_NO_GENERATOR),
        ("top_k larger than V raises", _SAMPLE_TOPK_TOO_BIG),
        ("returns (B, 1)", _SAMPLE_COLUMN),
        ("softmax over the batch axis", _SAMPLE_SOFTMAX_DIM0),
        ("int32 token ids", _SAMPLE_INT32),
        ("top-k keeps k + 1 tokens", _SAMPLE_K_PLUS_ONE),
    ],
    "surprisal": [
        ("nats instead of bits", _surprisal(unit="")),
        ("scored against the current token, not the next", _surprisal(targets="ids[:-1]")),
        ("fails at len(ids) = block_size + 1", _SURPRISAL_FULL),
        ("returns a list", _SURPRISAL_LIST),
        ("log base 10", _SURPRISAL_LOG10),
        ("fails on a list of ids", _SURPRISAL_NO_LIST),
        ("returns a (1, T) tensor", _SURPRISAL_2D),
        ("a 0 for the first token too", _SURPRISAL_WITH_FIRST),
        ("sign flipped", _SURPRISAL_SIGN),
    ],
    "mfu": [
        ("forward pass only (2N)", _mfu(fpt="2 * n_params + 4 * n_layer * n_head * head_size * seq_len")),
        ("attention term left out", _mfu(fpt="6 * n_params")),
        ("MFU in percent", _mfu(mfu="100 * flops_per_token * tokens_per_step / step_seconds / peak_flops")),
        ("attention term 6 L H Q T", _mfu(fpt="6 * n_params + 6 * n_layer * n_head * head_size * seq_len")),
        ("MFU divides by the tokens", _mfu(mfu="flops_per_token / tokens_per_step / step_seconds / peak_flops")),
        ("seq_len squared", _mfu(fpt="6 * n_params + 12 * n_layer * n_head * head_size * seq_len ** 2")),
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
