"""Variants of the ch01 answers: other correct solutions (must pass every test), classic mistakes
(each must fail a test at or after its part) and each part's headline mistake."""

RIGHT = {
    "mse_loss_and_grads": [
        # per-feature means instead of a matrix product; db as a (1,) array
        "def mse_loss_and_grads(X, y, w, b):\n"
        "    r = X @ w + b - y\n"
        "    dw = 2 * np.mean(X * r, axis=0)[:, None]\n"
        "    return np.mean(r ** 2), dw, 2 * np.mean(r, axis=0)\n",
        # einsum, everything as arrays
        "def mse_loss_and_grads(X, y, w, b):\n"
        "    N = len(X)\n"
        "    r = np.einsum('nd,dk->nk', X, w) + b - y\n"
        "    g = (2.0 / N) * r\n"
        "    return np.array((r * r).sum() / N), np.einsum('nd,nk->dk', X, g), np.array([[g.sum()]])\n",
    ],
    "mse_grad_X": [
        "def mse_grad_X(X, y, w, b):\n"
        "    r = X @ w + b - y\n"
        "    return 2 * r * w.T / X.shape[0]\n",
        "def mse_grad_X(X, y, w, b):\n"
        "    r = (X @ w + b - y)[:, 0]\n"
        "    return np.outer(r, w[:, 0]) * (2.0 / len(X))\n",
    ],
    "numerical_gradient": [
        # all perturbed copies at once, then one f call per copy
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    x = np.asarray(x, dtype=np.float64)\n"
        "    E = h * np.eye(x.size).reshape((x.size,) + x.shape)\n"
        "    plus = np.array([f(x + e) for e in E], dtype=np.float64)\n"
        "    minus = np.array([f(x - e) for e in E], dtype=np.float64)\n"
        "    return ((plus - minus) / (2 * h)).reshape(x.shape)\n",
        # flat copy, reshaped for f
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    flat = np.array(x, dtype=float).ravel()\n"
        "    out = np.empty_like(flat)\n"
        "    for i in range(flat.size):\n"
        "        a, c = flat.copy(), flat.copy()\n"
        "        a[i] += h\n"
        "        c[i] -= h\n"
        "        out[i] = (f(a.reshape(np.shape(x))) - f(c.reshape(np.shape(x)))) / (2 * h)\n"
        "    return out.reshape(np.shape(x))\n",
        # perturbs the caller's array in place and restores it (like course_lib.gradcheck)
        "def numerical_gradient(f, x, h=1e-5):\n"
        "    g = np.zeros(x.shape)\n"
        "    it = np.nditer(x, flags=['multi_index'])\n"
        "    for _ in it:\n"
        "        i = it.multi_index\n"
        "        old = x[i].copy()\n"
        "        x[i] = old + h; fp = f(x)\n"
        "        x[i] = old - h; fm = f(x)\n"
        "        x[i] = old\n"
        "        g[i] = (fp - fm) / (2 * h)\n"
        "    return g\n",
    ],
    "linear_backward": [
        "def linear_backward(dout, x, W, b):\n"
        "    return (np.einsum('no,io->ni', dout, W), np.einsum('ni,no->io', x, dout),\n"
        "            np.einsum('no->o', dout))\n",
        "def linear_backward(dout, x, W, b):\n"
        "    dW = (x[:, :, None] * dout[:, None, :]).sum(axis=0)\n"
        "    return (W @ dout.T).T, dW, np.ones(len(dout)) @ dout\n",
    ],
    "activation_backward": [
        "def relu_backward(dout, x):\n"
        "    return np.where(x > 0, dout, 0.0)\n"
        "def tanh_backward(dout, x):\n"
        "    t = np.tanh(x)\n"
        "    return dout - dout * t * t\n",
        "def relu_backward(dout, x):\n"
        "    return dout * np.heaviside(x, 0.0)\n"
        "def tanh_backward(dout, x):\n"
        "    return dout / np.cosh(x) ** 2\n",
    ],
    "softmax_cross_entropy": [
        "def softmax_cross_entropy(logits, y):\n"
        "    N, C = logits.shape\n"
        "    log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)\n"
        "    onehot = np.eye(C)[y]\n"
        "    return -(onehot * log_p).sum() / N, (np.exp(log_p) - onehot) / N\n",
        "def softmax_cross_entropy(logits, y):\n"
        "    m = logits.max(axis=1, keepdims=True)\n"
        "    e = np.exp(logits - m)\n"
        "    s = e.sum(axis=1, keepdims=True)\n"
        "    idx = (np.arange(len(y)), y)\n"
        "    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - logits[idx])\n"
        "    d = e / s\n"
        "    d[idx] -= 1\n"
        "    return loss, d / len(y)\n",
    ],
    "mlp_loss_and_grads": [
        # everything inline, no helper layers
        "def mlp_loss_and_grads(params, X, y):\n"
        "    N = len(X)\n"
        "    H = np.tanh(X @ params['W1'] + params['b1'])\n"
        "    Z = H @ params['W2'] + params['b2']\n"
        "    Z = Z - Z.max(1, keepdims=True)\n"
        "    P = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)\n"
        "    loss = -np.log(P[np.arange(N), y]).mean()\n"
        "    dZ = (P - np.eye(P.shape[1])[y]) / N\n"
        "    dZ1 = (dZ @ params['W2'].T) * (1 - H ** 2)\n"
        "    return loss, dict(W2=H.T @ dZ, b2=dZ.sum(0), W1=X.T @ dZ1, b1=dZ1.sum(0))\n",
    ],
    "train_mlp": [
        # other defaults, Glorot-uniform initialisation, a momentum-free loop written differently
        "def train_mlp(X, y, hidden=32, lr=0.3, steps=1200, seed=0):\n"
        "    rng = np.random.default_rng(seed)\n"
        "    D, C = X.shape[1], int(y.max()) + 1\n"
        "    lim1, lim2 = np.sqrt(6 / (D + hidden)), np.sqrt(6 / (hidden + C))\n"
        "    p = dict(W1=rng.uniform(-lim1, lim1, (D, hidden)), b1=np.zeros(hidden),\n"
        "             W2=rng.uniform(-lim2, lim2, (hidden, C)), b2=np.zeros(C))\n"
        "    for step in range(steps):\n"
        "        loss, g = mlp_loss_and_grads(p, X, y)\n"
        "        for k in p:\n"
        "            p[k] = p[k] - lr * g[k]\n"
        "    return p\n",
    ],
}

WRONG = {
    "mse_loss_and_grads": [
        ("gradients from torch.autograd, not by hand",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    tw = torch.tensor(w, requires_grad=True)\n"
         "    tb = torch.tensor(float(b), dtype=torch.float64, requires_grad=True)\n"
         "    loss = ((torch.tensor(X) @ tw + tb - torch.tensor(y)) ** 2).mean()\n"
         "    loss.backward()\n"
         "    return loss.item(), tw.grad.numpy(), tb.grad.item()\n"),
        ("missing 1/N",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    r = X @ w + b - y\n"
         "    return np.mean(r ** 2), 2 * X.T @ r, 2 * r.sum()\n"),
        ("missing the factor 2",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    r = X @ w + b - y\n"
         "    return np.mean(r ** 2), X.T @ r / len(X), r.sum() / len(X)\n"),
        ("transposed weight gradient",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    r = X @ w + b - y\n"
         "    return np.mean(r ** 2), 2 / len(X) * r.T @ X, 2 / len(X) * r.sum()\n"),
        ("bias gradient not summed over the batch",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    r = X @ w + b - y\n"
         "    return np.mean(r ** 2), 2 / len(X) * X.T @ r, 2 / len(X) * r\n"),
        ("loss summed, not averaged",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    r = X @ w + b - y\n"
         "    return np.sum(r ** 2), 2 / len(X) * X.T @ r, 2 / len(X) * r.sum()\n"),
        ("residual y - y_hat (gradient of the wrong sign)",
         "def mse_loss_and_grads(X, y, w, b):\n"
         "    r = y - (X @ w + b)\n"
         "    return np.mean(r ** 2), 2 / len(X) * X.T @ r, 2 / len(X) * r.sum()\n"),
    ],
    "mse_grad_X": [
        ("missing 1/N",
         "def mse_grad_X(X, y, w, b):\n    return 2 * (X @ w + b - y) @ w.T\n"),
        ("forgets the residual",
         "def mse_grad_X(X, y, w, b):\n    return np.tile(2 / len(X) * w.T, (len(X), 1))\n"),
        ("summed over the batch",
         "def mse_grad_X(X, y, w, b):\n    return 2 / len(X) * (X @ w + b - y).sum() * w.T\n"),
        ("X in place of w",
         "def mse_grad_X(X, y, w, b):\n    return 2 / len(X) * (X @ w + b - y) * X\n"),
    ],
    "numerical_gradient": [
        ("a thin wrapper around course_lib's numeric_grad",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    return numeric_grad(f, np.array(x, dtype=np.float64), h)\n"),
        ("forward difference",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    x = np.array(x, dtype=float)\n"
         "    g = np.zeros_like(x)\n"
         "    f0 = f(x)\n"
         "    for i in np.ndindex(x.shape):\n"
         "        xp = x.copy(); xp[i] += h\n"
         "        g[i] = (f(xp) - f0) / h\n"
         "    return g\n"),
        ("divides by h instead of 2h",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    x = np.array(x, dtype=float)\n"
         "    g = np.zeros_like(x)\n"
         "    for i in np.ndindex(x.shape):\n"
         "        xp, xm = x.copy(), x.copy(); xp[i] += h; xm[i] -= h\n"
         "        g[i] = (f(xp) - f(xm)) / h\n"
         "    return g\n"),
        ("perturbs every coordinate at once",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    x = np.array(x, dtype=float)\n"
         "    return np.full(x.shape, (f(x + h) - f(x - h)) / (2 * h))\n"),
        ("leaves the caller's x perturbed",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    g = np.zeros(x.shape)\n"
         "    for i in np.ndindex(x.shape):\n"
         "        x[i] += h; fp = f(x)\n"
         "        x[i] -= 2 * h; fm = f(x)\n"
         "        g[i] = (fp - fm) / (2 * h)\n"
         "    return g\n"),
        ("returns a flat vector",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    flat = np.array(x, dtype=float).ravel()\n"
         "    g = []\n"
         "    for i in range(flat.size):\n"
         "        a, c = flat.copy(), flat.copy(); a[i] += h; c[i] -= h\n"
         "        g.append((f(a.reshape(x.shape)) - f(c.reshape(x.shape))) / (2 * h))\n"
         "    return np.array(g)\n"),
        ("only handles 2-D arrays",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    x = np.array(x, dtype=float)\n"
         "    g = np.zeros_like(x)\n"
         "    for i in range(x.shape[0]):\n"
         "        for j in range(x.shape[1]):\n"
         "            xp, xm = x.copy(), x.copy(); xp[i, j] += h; xm[i, j] -= h\n"
         "            g[i, j] = (f(xp) - f(xm)) / (2 * h)\n"
         "    return g\n"),
        ("works in float32",
         "def numerical_gradient(f, x, h=1e-5):\n"
         "    x = np.array(x, dtype=np.float32)\n"
         "    g = np.zeros_like(x)\n"
         "    for i in np.ndindex(x.shape):\n"
         "        xp, xm = x.copy(), x.copy(); xp[i] += h; xm[i] -= h\n"
         "        g[i] = (f(xp) - f(xm)) / (2 * h)\n"
         "    return g\n"),
    ],
    "linear_backward": [
        ("gradients from torch.autograd, not by hand",
         "def linear_backward(dout, x, W, b):\n"
         "    tx, tW, tb = (torch.tensor(a, requires_grad=True) for a in (x, W, b))\n"
         "    (tx @ tW + tb).backward(torch.tensor(dout))\n"
         "    return tx.grad.numpy(), tW.grad.numpy(), tb.grad.numpy()\n"),
        ("zeroes the caller's dout while summing",
         "def linear_backward(dout, x, W, b):\n"
         "    dx, dW = dout @ W.T, x.T @ dout\n"
         "    db = dout.sum(0)\n"
         "    dout *= 0\n"
         "    return dx, dW, db\n"),
        ("transposed weight gradient (dout^T x)",
         "def linear_backward(dout, x, W, b):\n    return dout @ W.T, dout.T @ x, dout.sum(0)\n"),
        ("transposed weight gradient reshaped to W's shape",
         "def linear_backward(dout, x, W, b):\n    return dout @ W.T, (dout.T @ x).reshape(W.shape), dout.sum(0)\n"),
        ("bias gradient not summed over the batch",
         "def linear_backward(dout, x, W, b):\n    return dout @ W.T, x.T @ dout, dout\n"),
        ("bias gradient averaged over the batch",
         "def linear_backward(dout, x, W, b):\n    return dout @ W.T, x.T @ dout, dout.mean(0)\n"),
        ("bias gradient summed over the features",
         "def linear_backward(dout, x, W, b):\n    return dout @ W.T, x.T @ dout, dout.sum(1)\n"),
        ("dx with W reshaped instead of transposed",
         "def linear_backward(dout, x, W, b):\n    return dout @ W.reshape(W.shape[1], W.shape[0]), x.T @ dout, dout.sum(0)\n"),
    ],
    "activation_backward": [
        ("ReLU backward that zeroes the caller's dout in place",
         "def relu_backward(dout, x):\n    dout[x <= 0] = 0.0\n    return dout\n"
         "def tanh_backward(dout, x):\n    return dout * (1 - np.tanh(x) ** 2)\n"),
        ("tanh slope through exp, nan at large |x|",
         "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
         "def tanh_backward(dout, x):\n"
         "    e = np.exp(2 * x)\n"
         "    return dout * (1 - ((e - 1) / (e + 1)) ** 2)\n"),
        ("ReLU slope 1 at x == 0",
         "def relu_backward(dout, x):\n    return dout * (x >= 0)\n"
         "def tanh_backward(dout, x):\n    return dout * (1 - np.tanh(x) ** 2)\n"),
        ("ReLU mask without dout",
         "def relu_backward(dout, x):\n    return (x > 0).astype(float)\n"
         "def tanh_backward(dout, x):\n    return dout * (1 - np.tanh(x) ** 2)\n"),
        ("tanh slope 1 - x**2 (the input taken for the output)",
         "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
         "def tanh_backward(dout, x):\n    return dout * (1 - x ** 2)\n"),
        ("tanh slope without the square",
         "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
         "def tanh_backward(dout, x):\n    return dout * (1 - np.tanh(x))\n"),
    ],
    "softmax_cross_entropy": [
        ("gradient from torch.autograd, not by hand",
         "def softmax_cross_entropy(logits, y):\n"
         "    t = torch.tensor(logits, requires_grad=True)\n"
         "    loss = F.cross_entropy(t, torch.tensor(y))\n"
         "    loss.backward()\n"
         "    return loss.item(), t.grad.numpy()\n"),
        ("unstable: no max subtracted",
         "def softmax_cross_entropy(logits, y):\n"
         "    N = len(y)\n"
         "    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)\n"
         "    d = p.copy(); d[np.arange(N), y] -= 1\n"
         "    return -np.log(p[np.arange(N), y]).mean(), d / N\n"),
        ("stable softmax, but the log of an underflowed probability",
         "def softmax_cross_entropy(logits, y):\n"
         "    N = len(y)\n"
         "    e = np.exp(logits - logits.max(1, keepdims=True))\n"
         "    p = e / e.sum(1, keepdims=True)\n"
         "    d = p.copy(); d[np.arange(N), y] -= 1\n"
         "    return -np.log(p[np.arange(N), y]).mean(), d / N\n"),
        ("max over the whole batch, not per row",
         "def softmax_cross_entropy(logits, y):\n"
         "    N = len(y)\n"
         "    s = logits - logits.max()\n"
         "    log_p = s - np.log(np.exp(s).sum(1, keepdims=True))\n"
         "    d = np.exp(log_p); d[np.arange(N), y] -= 1\n"
         "    return -log_p[np.arange(N), y].mean(), d / N\n"),
        ("gradient missing 1/N",
         "def softmax_cross_entropy(logits, y):\n"
         "    N = len(y)\n"
         "    s = logits - logits.max(1, keepdims=True)\n"
         "    log_p = s - np.log(np.exp(s).sum(1, keepdims=True))\n"
         "    d = np.exp(log_p); d[np.arange(N), y] -= 1\n"
         "    return -log_p[np.arange(N), y].mean(), d\n"),
        ("loss summed over the batch",
         "def softmax_cross_entropy(logits, y):\n"
         "    N = len(y)\n"
         "    s = logits - logits.max(1, keepdims=True)\n"
         "    log_p = s - np.log(np.exp(s).sum(1, keepdims=True))\n"
         "    d = np.exp(log_p); d[np.arange(N), y] -= 1\n"
         "    return -log_p[np.arange(N), y].sum(), d / N\n"),
        ("forgets to subtract the one-hot",
         "def softmax_cross_entropy(logits, y):\n"
         "    N = len(y)\n"
         "    s = logits - logits.max(1, keepdims=True)\n"
         "    log_p = s - np.log(np.exp(s).sum(1, keepdims=True))\n"
         "    return -log_p[np.arange(N), y].mean(), np.exp(log_p) / N\n"),
    ],
    "mlp_loss_and_grads": [
        ("gradients from torch.autograd, not by hand",
         "def mlp_loss_and_grads(params, X, y):\n"
         "    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}\n"
         "    logits = torch.tanh(torch.tensor(X) @ t['W1'] + t['b1']) @ t['W2'] + t['b2']\n"
         "    loss = F.cross_entropy(logits, torch.tensor(y))\n"
         "    loss.backward()\n"
         "    return loss.item(), {k: v.grad.numpy() for k, v in t.items()}\n"),
        ("ReLU instead of tanh",
         "def mlp_loss_and_grads(params, X, y):\n"
         "    Z1 = X @ params['W1'] + params['b1']\n"
         "    H = np.maximum(Z1, 0)\n"
         "    loss, dZ2 = softmax_cross_entropy(H @ params['W2'] + params['b2'], y)\n"
         "    dH, dW2, db2 = linear_backward(dZ2, H, params['W2'], params['b2'])\n"
         "    _, dW1, db1 = linear_backward(relu_backward(dH, Z1), X, params['W1'], params['b1'])\n"
         "    return loss, dict(W1=dW1, b1=db1, W2=dW2, b2=db2)\n"),
        ("tanh's derivative forgotten",
         "def mlp_loss_and_grads(params, X, y):\n"
         "    Z1 = X @ params['W1'] + params['b1']\n"
         "    H = np.tanh(Z1)\n"
         "    loss, dZ2 = softmax_cross_entropy(H @ params['W2'] + params['b2'], y)\n"
         "    dH, dW2, db2 = linear_backward(dZ2, H, params['W2'], params['b2'])\n"
         "    _, dW1, db1 = linear_backward(dH, X, params['W1'], params['b1'])\n"
         "    return loss, dict(W1=dW1, b1=db1, W2=dW2, b2=db2)\n"),
        ("tanh_backward given the output instead of the input",
         "def mlp_loss_and_grads(params, X, y):\n"
         "    H = np.tanh(X @ params['W1'] + params['b1'])\n"
         "    loss, dZ2 = softmax_cross_entropy(H @ params['W2'] + params['b2'], y)\n"
         "    dH, dW2, db2 = linear_backward(dZ2, H, params['W2'], params['b2'])\n"
         "    _, dW1, db1 = linear_backward(tanh_backward(dH, H), X, params['W1'], params['b1'])\n"
         "    return loss, dict(W1=dW1, b1=db1, W2=dW2, b2=db2)\n"),
        ("second layer's weight gradient from the layer's pre-activation",
         "def mlp_loss_and_grads(params, X, y):\n"
         "    Z1 = X @ params['W1'] + params['b1']\n"
         "    H = np.tanh(Z1)\n"
         "    loss, dZ2 = softmax_cross_entropy(H @ params['W2'] + params['b2'], y)\n"
         "    dH, dW2, db2 = linear_backward(dZ2, Z1, params['W2'], params['b2'])\n"
         "    _, dW1, db1 = linear_backward(tanh_backward(dH, Z1), X, params['W1'], params['b1'])\n"
         "    return loss, dict(W1=dW1, b1=db1, W2=dW2, b2=db2)\n"),
        ("updates params in place",
         "def mlp_loss_and_grads(params, X, y):\n"
         "    Z1 = X @ params['W1'] + params['b1']\n"
         "    H = np.tanh(Z1)\n"
         "    loss, dZ2 = softmax_cross_entropy(H @ params['W2'] + params['b2'], y)\n"
         "    dH, dW2, db2 = linear_backward(dZ2, H, params['W2'], params['b2'])\n"
         "    _, dW1, db1 = linear_backward(tanh_backward(dH, Z1), X, params['W1'], params['b1'])\n"
         "    grads = dict(W1=dW1, b1=db1, W2=dW2, b2=db2)\n"
         "    for k in params:\n"
         "        params[k] -= 0.0 * grads[k] + 1e-3 * np.sign(grads[k])\n"
         "    return loss, grads\n"),
    ],
    "train_mlp": [
        ("ignores the steps argument",
         "def train_mlp(X, y, hidden=16, lr=0.5, steps=500, seed=0):\n"
         "    rng = np.random.default_rng(seed)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) / np.sqrt(D), b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) / np.sqrt(hidden), b2=np.zeros(C))\n"
         "    for _ in range(500):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] - lr * g[k] for k in p}\n"
         "    return p\n"),
        ("unscaled N(0, 1) initial weights",
         "def train_mlp(X, y, hidden=16, lr=0.5, steps=500, seed=0):\n"
         "    rng = np.random.default_rng(seed)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) * 3, b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) * 3, b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] - lr * g[k] for k in p}\n"
         "    return p\n"),
        ("diverges: learning rate far too large",
         "def train_mlp(X, y, hidden=16, lr=500.0, steps=500, seed=0):\n"
         "    rng = np.random.default_rng(seed)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) / np.sqrt(D), b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) / np.sqrt(hidden), b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] - lr * g[k] for k in p}\n"
         "    return p\n"),
        ("too few steps",
         "def train_mlp(X, y, hidden=16, lr=0.5, steps=20, seed=0):\n"
         "    rng = np.random.default_rng(seed)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) / np.sqrt(D), b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) / np.sqrt(hidden), b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        p = {k: v - lr * g for (k, v), g in zip(p.items(), mlp_loss_and_grads(p, X, y)[1].values())}\n"
         "    return p\n"),
        ("gradient ascent",
         "def train_mlp(X, y, hidden=16, lr=0.5, steps=500, seed=0):\n"
         "    rng = np.random.default_rng(seed)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) / np.sqrt(D), b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) / np.sqrt(hidden), b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] + lr * g[k] for k in p}\n"
         "    return p\n"),
        ("all-zero initialisation (hidden units never differ)",
         "def train_mlp(X, y, hidden=16, lr=0.5, steps=500, seed=0):\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=np.zeros((D, hidden)), b1=np.zeros(hidden), W2=np.zeros((hidden, C)), b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] - lr * g[k] for k in p}\n"
         "    return p\n"),
        ("learning rate far too small",
         "def train_mlp(X, y, hidden=16, lr=0.005, steps=500, seed=0):\n"
         "    rng = np.random.default_rng(seed)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) / np.sqrt(D), b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) / np.sqrt(hidden), b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] - lr * g[k] for k in p}\n"
         "    return p\n"),
        ("ignores the seed",
         "def train_mlp(X, y, hidden=16, lr=0.5, steps=500, seed=0):\n"
         "    rng = np.random.default_rng(0)\n"
         "    D, C = X.shape[1], int(y.max()) + 1\n"
         "    p = dict(W1=rng.normal(size=(D, hidden)) / np.sqrt(D), b1=np.zeros(hidden),\n"
         "             W2=rng.normal(size=(hidden, C)) / np.sqrt(hidden), b2=np.zeros(C))\n"
         "    for _ in range(steps):\n"
         "        g = mlp_loss_and_grads(p, X, y)[1]\n"
         "        p = {k: p[k] - lr * g[k] for k in p}\n"
         "    return p\n"),
    ],
}

# The mistake each part is about: its visible test fails, with a message that says these words.
HEADLINE = {
    "mse_loss_and_grads": ("bias gradient not summed over the batch", "one number"),
    "mse_grad_X": ("summed over the batch", "one row per example"),
    "numerical_gradient": ("forward difference", "central difference"),
    "linear_backward": ("bias gradient summed over the features", "sum dout over the batch"),
    "activation_backward": ("ReLU slope 1 at x == 0", "at exactly x == 0"),
    "softmax_cross_entropy": ("unstable: no max subtracted", "subtract each row's max"),
    "mlp_loss_and_grads": ("tanh_backward given the output instead of the input", "through tanh"),
    "train_mlp": ("all-zero initialisation (hidden units never differ)", "symmetry"),
}
