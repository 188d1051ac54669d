"""Variants of the ch00 answers: other correct solutions, classic mistakes and each part's headline mistake."""

RIGHT = {
    "pairwise_sq_dists": [
        # the expansion |x|^2 - 2 x.y + |y|^2
        "def pairwise_sq_dists(X, Y):\n"
        "    return (X ** 2).sum(1)[:, None] - 2 * X @ Y.T + (Y ** 2).sum(1)[None, :]\n",
        "def pairwise_sq_dists(X, Y):\n"
        "    return torch.cdist(X, Y) ** 2\n",
        # no loop, no (N, M, D) tensor: an einsum for the cross term
        "def pairwise_sq_dists(X, Y):\n"
        "    cross = torch.einsum('nd,md->nm', X, Y)\n"
        "    return X.pow(2).sum(-1, keepdim=True) - 2 * cross + Y.pow(2).sum(-1)\n",
    ],
    "standardize_channels": [
        "def standardize_channels(x, eps=1e-5):\n"
        "    return F.batch_norm(x, None, None, training=True, eps=eps)\n",
        "def standardize_channels(x, eps=1e-5):\n"
        "    var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False, keepdim=True)\n"
        "    return (x - mean) * torch.rsqrt(var + eps)\n",
        "def standardize_channels(x, eps=1e-5):\n"
        "    C = x.shape[1]\n"
        "    flat = x.transpose(0, 1).reshape(C, -1)\n"
        "    mean = flat.mean(1).view(1, C, 1, 1)\n"
        "    var = flat.var(1, unbiased=False).view(1, C, 1, 1)\n"
        "    return (x - mean) / (var + eps).sqrt()\n",
    ],
    "to_channels_first": [
        "def to_channels_first(images):\n    return images.movedim(-1, 1)\n",
        "def to_channels_first(images):\n    return torch.einsum('bhwc->bchw', images).contiguous()\n",
        "def to_channels_first(images):\n    return images.transpose(1, 3).transpose(2, 3)\n",
    ],
    "batch_dependency": [
        "def batch_dependency(model, x):\n"
        "    rows = []\n"
        "    for i in range(len(x)):\n"
        "        xi = x.clone().requires_grad_()\n"
        "        (g,) = torch.autograd.grad(model(xi)[i].sum(), xi)\n"
        "        rows.append(g.flatten(1).abs().sum(1) > 0)\n"
        "    return torch.stack(rows)\n",
        "def batch_dependency(model, x):\n"
        "    J = torch.autograd.functional.jacobian(lambda v: model(v).flatten(1).sum(1), x)\n"
        "    return J.flatten(2).ne(0).any(2)\n",
    ],
}

WRONG = {
    "pairwise_sq_dists": [
        ("distances, not squared", "def pairwise_sq_dists(X, Y):\n    return torch.cdist(X, Y)\n"),
        ("(M, N) instead of (N, M)",
         "def pairwise_sq_dists(X, Y):\n    return ((Y[:, None, :] - X[None, :, :]) ** 2).sum(-1)\n"),
        ("row-wise, no broadcasting", "def pairwise_sq_dists(X, Y):\n    return ((X - Y) ** 2).sum(-1)\n"),
        ("summed over the wrong axis",
         "def pairwise_sq_dists(X, Y):\n    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(0)\n"),
    ],
    "standardize_channels": [
        ("unbiased variance (n - 1)",
         "def standardize_channels(x, eps=1e-5):\n"
         "    m = x.mean(dim=(0, 2, 3), keepdim=True)\n"
         "    return (x - m) / torch.sqrt(x.var(dim=(0, 2, 3), keepdim=True) + eps)\n"),
        ("no keepdim: (C,) broadcasts against W",
         "def standardize_channels(x, eps=1e-5):\n"
         "    m = x.mean(dim=(0, 2, 3))\n"
         "    v = ((x - m) ** 2).mean(dim=(0, 2, 3))\n"
         "    return (x - m) / torch.sqrt(v + eps)\n"),
        ("statistics per image",
         "def standardize_channels(x, eps=1e-5):\n"
         "    m = x.mean(dim=(2, 3), keepdim=True)\n"
         "    v = ((x - m) ** 2).mean(dim=(2, 3), keepdim=True)\n"
         "    return (x - m) / torch.sqrt(v + eps)\n"),
        ("statistics over the batch only",
         "def standardize_channels(x, eps=1e-5):\n"
         "    m = x.mean(dim=0, keepdim=True)\n"
         "    v = ((x - m) ** 2).mean(dim=0, keepdim=True)\n"
         "    return (x - m) / torch.sqrt(v + eps)\n"),
        ("eps outside the square root",
         "def standardize_channels(x, eps=1e-5):\n"
         "    m = x.mean(dim=(0, 2, 3), keepdim=True)\n"
         "    v = ((x - m) ** 2).mean(dim=(0, 2, 3), keepdim=True)\n"
         "    return (x - m) / (torch.sqrt(v) + eps)\n"),
        ("eps argument ignored",
         "def standardize_channels(x, eps=1e-5):\n"
         "    return F.batch_norm(x, None, None, training=True, eps=1e-5)\n"),
        ("normalises in place",
         "def standardize_channels(x, eps=1e-5):\n"
         "    m = x.mean(dim=(0, 2, 3), keepdim=True)\n"
         "    v = ((x - m) ** 2).mean(dim=(0, 2, 3), keepdim=True)\n"
         "    x -= m\n"
         "    x /= torch.sqrt(v + eps)\n"
         "    return x\n"),
    ],
    "to_channels_first": [
        ("view", "def to_channels_first(images):\n    B, H, W, C = images.shape\n    return images.view(B, C, H, W)\n"),
        ("reshape", "def to_channels_first(images):\n    B, H, W, C = images.shape\n    return images.reshape(B, C, H, W)\n"),
        ("(B, C, W, H)", "def to_channels_first(images):\n    return images.transpose(1, 3)\n"),
    ],
    "batch_dependency": [
        ("transposed: rows are inputs",
         "def batch_dependency(model, x):\n"
         "    J = torch.autograd.functional.jacobian(lambda v: model(v).flatten(1).sum(1), x)\n"
         "    return J.flatten(2).ne(0).any(2).T\n"),
        ("one example at a time (never sees mixing)",
         "def batch_dependency(model, x):\n"
         "    B = x.shape[0]\n"
         "    M = torch.zeros(B, B, dtype=torch.bool)\n"
         "    for i in range(B):\n"
         "        xi = x[i:i+1].clone().requires_grad_()\n"
         "        model(xi).sum().backward()\n"
         "        M[i, i] = bool(xi.grad.ne(0).any())\n"
         "    return M\n"),
        ("gradients accumulate across examples",
         "def batch_dependency(model, x):\n"
         "    B = x.shape[0]\n"
         "    x.requires_grad_(True)\n"
         "    M = torch.zeros(B, B, dtype=torch.bool)\n"
         "    for i in range(B):\n"
         "        model(x)[i].sum().backward()\n"
         "        M[i] = x.grad.reshape(B, -1).ne(0).any(1)\n"
         "    return M\n"),
        ("leaves x requiring grad",
         "def batch_dependency(model, x):\n"
         "    x.requires_grad_(True)\n"
         "    J = torch.autograd.functional.jacobian(lambda v: model(v).flatten(1).sum(1), x)\n"
         "    return J.flatten(2).ne(0).any(2)\n"),
        ("returns 0/1 floats",
         "def batch_dependency(model, x):\n"
         "    J = torch.autograd.functional.jacobian(lambda v: model(v).flatten(1).sum(1), x)\n"
         "    return J.flatten(2).ne(0).any(2).float()\n"),
    ],
}

# The mistake each part is about: its visible test fails, with a message that says these words.
HEADLINE = {
    "pairwise_sq_dists": ("row-wise, no broadcasting", "broadcast"),
    "standardize_channels": ("statistics per image", "not per image"),
    "to_channels_first": ("view", "permute"),
    "batch_dependency": ("leaves x requiring grad", "leave x as it found it"),
}
