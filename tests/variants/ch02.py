"""Variants of the ch02 answers: other correct engines pass every test, classic mistakes fail a test
at or after their part (some only show once backward() exists), and each part's headline mistake
fails the part's visible tests by name.
"""

# A complete micrograd-style Value in one cell, with the derivative rules written differently.
_VALUE_HEAD = '''
class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = tuple(_children)
        self._op = _op
'''

def _value(add_bw="self.grad += out.grad\n            other.grad += out.grad",
           mul_bw="self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
           pow_bw="self.grad += k * self.data ** (k - 1) * out.grad",
           relu_fw="max(self.data, 0.0)", relu_bw="self.grad += (self.data > 0) * out.grad",
           tanh_bw="self.grad += (1 - out.data ** 2) * out.grad",
           exp_bw="self.grad += out.data * out.grad",
           wrap="other = other if isinstance(other, Value) else Value(other)",
           pow_fw="self.data ** k", tanh_fw="math.tanh(self.data)"):
    return _VALUE_HEAD + f'''
    def __add__(self, other):
        {wrap}
        out = Value(self.data + other.data, (self, other), "+")
        def _backward():
            {add_bw}
        out._backward = _backward
        return out

    def __mul__(self, other):
        {wrap}
        out = Value(self.data * other.data, (self, other), "*")
        def _backward():
            {mul_bw}
        out._backward = _backward
        return out

    def __pow__(self, k):
        out = Value({pow_fw}, (self,), "**")
        def _backward():
            {pow_bw}
        out._backward = _backward
        return out

    def relu(self):
        out = Value({relu_fw}, (self,), "relu")
        def _backward():
            {relu_bw}
        out._backward = _backward
        return out

    def tanh(self):
        t = {tanh_fw}
        out = Value(t, (self,), "tanh")
        def _backward():
            {tanh_bw}
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")
        def _backward():
            {exp_bw}
        out._backward = _backward
        return out
'''

# backward() written as a Kahn-style sort (count the parents, release a node when all are done)
_KAHN = '''
def backward(self):
    parents, stack, seen = {}, [self], {self}
    while stack:
        node = stack.pop()
        for child in node._prev:
            parents[child] = parents.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    self.grad = 1.0
    ready = [self]
    while ready:
        node = ready.pop()
        node._backward()
        for child in set(node._prev):
            parents[child] -= node._prev.count(child)
            if parents[child] == 0:
                ready.append(child)

Value.backward = backward
'''

# backward() with an iterator stack, children in a set as micrograd keeps them
_ITER_DFS = '''
def backward(self):
    topo, seen = [], {self}
    stack = [(self, iter(set(self._prev)))]
    while stack:
        node, it = stack[-1]
        for child in it:
            if child not in seen:
                seen.add(child)
                stack.append((child, iter(set(child._prev))))
                break
        else:
            stack.pop()
            topo.append(node)
    self.grad = 1
    for node in topo[::-1]:
        node._backward()

Value.backward = backward
'''

_RECURSIVE = '''
def backward(self):
    topo, visited = [], set()
    def build(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build(child)
            topo.append(v)
    build(self)
    self.grad = 1.0
    for v in reversed(topo):
        v._backward()

Value.backward = backward
'''

_DERIVED_NAMES = ("__neg__", "__sub__", "__rsub__", "__radd__", "__rmul__", "__truediv__", "__rtruediv__")


def _derived(neg="self * -1", sub="self + (-other)", rsub="other + (-self)", radd="self + other",
             rmul="self * other", truediv="self * other ** -1", rtruediv="other * self ** -1"):
    """Part 3's cell: the seven derived operators, one line each, attached to Value."""
    bodies = dict(zip(_DERIVED_NAMES, (neg, sub, rsub, radd, rmul, truediv, rtruediv)))
    defs = "".join(f"def {name}(self{'' if name == '__neg__' else ', other'}):\n    return {body}\n"
                   for name, body in bodies.items())
    return defs + f"for _n in {_DERIVED_NAMES!r}:\n    setattr(Value, _n, globals()[_n])\n"


def _nn(neuron_init="self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]\n        self.b = Value(0)",
        neuron_call="act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)\n        return act.relu() if self.nonlin else act",
        neuron_params="self.w + [self.b]",
        layer_init="self.neurons = [Neuron(nin, **kwargs) for _ in range(nout)]",
        mlp_nonlin="i != len(nouts) - 1",
        zero="p.grad = 0"):
    return f'''
class Module:
    def zero_grad(self):
        for p in self.parameters():
            {zero}
    def parameters(self):
        return []

class Neuron(Module):
    def __init__(self, nin, nonlin=True):
        {neuron_init}
        self.nonlin = nonlin
    def __call__(self, x):
        {neuron_call}
    def parameters(self):
        return {neuron_params}

class Layer(Module):
    def __init__(self, nin, nout, **kwargs):
        {layer_init}
    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out
    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]

class MLP(Module):
    def __init__(self, nin, nouts):
        sz = [nin] + nouts
        self.layers = [Layer(sz[i], sz[i + 1], nonlin={mlp_nonlin}) for i in range(len(nouts))]
    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x
    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]
'''

_TRAIN = '''
def hinge_loss(model, X, y):
    {loss}

def train_step(model, X, y, lr):
    loss = hinge_loss(model, X, y)
    {zero}
    loss.backward()
    for p in model.parameters():
        {update}
    return {ret}
'''

def _train(loss="return sum((1 + -yi * model(x)).relu() for x, yi in zip(X, y)) / len(X)",
           zero="model.zero_grad()", update="p.data -= lr * p.grad", ret="loss.data"):
    return _TRAIN.format(loss=loss, zero=zero, update=update, ret=ret)


RIGHT = {
    "value": [
        _value(),
        # local gradients from the forward values, relu via a comparison
        _value(relu_fw="self.data * (self.data > 0)",
               relu_bw="self.grad += (out.data > 0) * out.grad",
               tanh_bw="self.grad += (1 - math.tanh(self.data) ** 2) * out.grad",
               pow_fw="self.data ** k if isinstance(k, (int, float)) else None"),
    ],
    "backward": [_KAHN, _ITER_DFS],
    "derived_ops": [
        _derived(),
        # everything through the primitives, in other spellings
        _derived(neg="self * -1.0", sub="self + other * -1 if not isinstance(other, Value) else self + (-other)",
                 rsub="self * -1 + other", radd="self.__add__(other)", rmul="self.__mul__(other)",
                 truediv="self * (other ** -1 if isinstance(other, Value) else 1.0 / other)",
                 rtruediv="(self ** -1) * other"),
    ],
    "nn": [
        _nn(),
        # weights of a neuron drawn one by one; the dot product as an explicit loop
        _nn(neuron_init="self.w = []\n        for _ in range(nin):\n            self.w.append(Value(2 * random.random() - 1))\n        self.b = Value(0.0)",
            neuron_call="act = self.b\n        for wi, xi in zip(self.w, x):\n            act = act + wi * xi\n        return act.relu() if self.nonlin else act",
            zero="p.grad = 0.0"),
    ],
    "train_step": [
        _train(),
        _train(loss="scores = [model(x) for x in X]\n    return sum([(1 - s * t).relu() for s, t in zip(scores, y)]) * (1 / len(y))",
               zero="for p in model.parameters():\n        p.grad = 0", ret="float(loss.data)"),
    ],
}

WRONG = {
    "value": [
        ("plain numbers not wrapped", _value(wrap="pass")),
        ("relu that clips from above", _value(relu_fw="min(self.data, 0.0)")),
        ("power with the operands swapped", _value(pow_fw="k ** self.data")),
        ("ops return floats, not Values",
         _value().replace('return out\n\n    def __mul__', 'return out.data\n\n    def __mul__')),
        ("grad starts at 1", _value().replace("self.grad = 0.0", "self.grad = 1.0")),
        # mistakes in the local gradients
        ("add: = instead of += (a + a loses a contribution)",
         _value(add_bw="self.grad = out.grad\n            other.grad = out.grad")),
        ("mul: forgets out.grad (chain rule)",
         _value(mul_bw="self.grad += other.data\n            other.grad += self.data")),
        ("mul: each side gets its own value",
         _value(mul_bw="self.grad += self.data * out.grad\n            other.grad += other.data * out.grad")),
        ("mul: = instead of += (a * a)",
         _value(mul_bw="self.grad = other.data * out.grad\n            other.grad = self.data * out.grad")),
        ("pow: k * x ** k", _value(pow_bw="self.grad += k * self.data ** k * out.grad")),
        ("relu: gradient 1 everywhere", _value(relu_bw="self.grad += out.grad")),
        ("relu: slope 1 at exactly 0", _value(relu_bw="self.grad += (self.data >= 0) * out.grad")),
        ("tanh: 1 - x^2 instead of 1 - tanh(x)^2", _value(tanh_bw="self.grad += (1 - self.data ** 2) * out.grad")),
        ("tanh through math.exp (overflows at 400)",
         _value(tanh_fw="(math.exp(2 * self.data) - 1) / (math.exp(2 * self.data) + 1)")),
        ("exp: gradient x instead of exp(x)", _value(exp_bw="self.grad += self.data * out.grad")),
        ("a subclass of course_lib's Value",
         "from course_lib.micrograd import Value as _LibValue\n\nclass Value(_LibValue):\n    pass\n"),
    ],
    "backward": [
        ("breadth-first from the output (not a topological order)",
         "def backward(self):\n"
         "    self.grad = 1.0\n"
         "    queue, seen = [self], {self}\n"
         "    while queue:\n"
         "        node = queue.pop(0)\n"
         "        node._backward()\n"
         "        for c in node._prev:\n"
         "            if c not in seen:\n"
         "                seen.add(c)\n"
         "                queue.append(c)\n"
         "Value.backward = backward\n"),
        ("topological order not reversed", _ITER_DFS.replace("topo[::-1]", "topo")),
        ("no visited set: shared nodes run twice",
         "def backward(self):\n"
         "    topo, stack = [], [(self, False)]\n"
         "    while stack:\n"
         "        node, done = stack.pop()\n"
         "        if done:\n"
         "            topo.append(node)\n"
         "        else:\n"
         "            stack.append((node, True))\n"
         "            stack.extend((c, False) for c in node._prev)\n"
         "    self.grad = 1.0\n"
         "    for node in reversed(topo):\n"
         "        node._backward()\n"
         "Value.backward = backward\n"),
        ("recursive topological sort (recursion limit)", _RECURSIVE),
        ("recursive topological sort with a raised recursion limit",
         _RECURSIVE.replace("    topo, visited = [], set()\n",
                            "    import sys\n    sys.setrecursionlimit(100_000)\n    topo, visited = [], set()\n")),
        ("forgets self.grad = 1", _ITER_DFS.replace("    self.grad = 1\n", "")),
    ],
    "derived_ops": [
        ("reflected subtraction with the sign flipped", _derived(rsub="self - other")),
        ("negation that leaves the graph", _derived(neg="Value(-self.data)")),
        ("division by the divisor's number (no gradient to b)",
         _derived(truediv="self * (1.0 / (other.data if isinstance(other, Value) else other))")),
        ("reflected division upside down", _derived(rtruediv="self * other ** -1")),
    ],
    "nn": [
        ("bias missing from parameters()", _nn(neuron_params="self.w")),
        ("ReLU on the output layer too", _nn(mlp_nonlin="True")),
        ("one neuron repeated nout times", _nn(layer_init="self.neurons = [Neuron(nin, **kwargs)] * nout")),
        ("zero_grad zeroes the data", _nn(zero="p.data = 0")),
        ("bias added inside the ReLU twice",
         _nn(neuron_call="act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b) + self.b\n        return act.relu() if self.nonlin else act")),
        ("no ReLU in hidden layers", _nn(mlp_nonlin="False")),
        ("bias starts random",
         _nn(neuron_init="self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]\n        self.b = Value(random.uniform(-1, 1))")),
        ("subclasses of course_lib's classes",
         "from course_lib import micrograd as _mg\n"
         "class Module(_mg.Module):\n    pass\n"
         "class Neuron(_mg.Neuron):\n    pass\n"
         "class Layer(_mg.Layer):\n    pass\n"
         "class MLP(_mg.MLP):\n    pass\n"),
    ],
    "train_step": [
        ("no zero_grad: gradients pile up over steps", _train(zero="pass")),
        ("gradient ascent", _train(update="p.data += lr * p.grad")),
        ("returns the loss as a Value", _train(ret="loss")),
        ("returns the loss after the step",
         _train(ret="hinge_loss(model, X, y).data")),
        ("sum instead of mean", _train(loss="return sum((1 + -yi * model(x)).relu() for x, yi in zip(X, y))")),
        ("squared error instead of hinge",
         _train(loss="return sum((model(x) - yi) ** 2 for x, yi in zip(X, y)) / len(X)")),
    ],
}

# The mistake each part is about: its visible tests fail, with a message that says these words.
HEADLINE = {
    "value": ("add: = instead of += (a + a loses a contribution)", "+=, not ="),
    "backward": ("recursive topological sort (recursion limit)", "recursion limit"),
    "derived_ops": ("reflected subtraction with the sign flipped", "__rsub__"),
    "nn": ("ReLU on the output layer too", "no ReLU on the last one"),
    "train_step": ("no zero_grad: gradients pile up over steps", "zero_grad"),
}
