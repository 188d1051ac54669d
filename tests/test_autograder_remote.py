"""The RPC between a test (trusted side) and the student's kernel, without a sandbox: a kernel forked
from this process serves one Session. Plain data comes back strictly decoded; everything else is a
proxy; student exceptions come back short and marked; tensors stay linked; functions, generators and
objects a test defines stay here; a kernel that loops, ignores interrupts, dies or lies is handled."""
from __future__ import annotations

import json
import os
import signal
import socket
import time

import numpy as np
import pytest
import torch

from autograder.kernel import frames
from autograder.kernel.encode import Encoder, Handles
from autograder.remote import CellTimeout, KernelDied, Remote, student_origin
from autograder.session import Session
from autograder.trusted import Grading, new_namespace, run_test
from autograder.wire import Decoder, ProtocolError, StudentStr

STUDENT = '''
import os, signal, torch, numpy as np
class Value:
    def __init__(self, data):
        self.data, self.grad = data, 0.0
    def __add__(self, other):
        return Value(self.data + (other.data if isinstance(other, Value) else other))
    __radd__ = __add__
    def __mul__(self, other):
        return Value(self.data * (other.data if isinstance(other, Value) else other))
    def broken(self):
        raise ValueError("first line of a long story\\n" + "x" * 5000)
class Fake(torch.Tensor):
    pass
def scale_(x, k):
    x.mul_(k)
    return x
def append_to(items, arrays):
    items.append(1)
    arrays[0] += 1
def apply(fn, *args):
    return fn(*args)
def total(batches):
    return sum(float(b.sum()) for b in batches)
def grad_mode():
    return torch.is_grad_enabled()
def call_model(model, x):
    with torch.no_grad():
        return model(x)
class SGD:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr
    def step(self):
        with torch.no_grad():
            for p in self.params:
                p -= self.lr * p.grad
def stub():
    raise NotImplementedError
def loop():
    while True:
        pass
def stubborn():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        pass
def die():
    os._exit(3)
def peek(obj):
    return obj.__getattr__("__dict__")
'''


def start_kernel(source=STUDENT):
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            from autograder.kernel.server import Server
            from autograder.kernel.shell import make_shell
            shell = make_shell()
            Server(theirs, shell).serve()
        finally:
            os._exit(0)
    theirs.close()
    session = Session(ours, interrupt=lambda: os.kill(pid, signal.SIGINT))
    session.deadline = time.monotonic() + 60
    session.request("cell", source, 0)
    session.deadline = None
    return session, pid


@pytest.fixture(scope="module")
def kernel():
    session, pid = start_kernel()
    yield session
    session.sock.close()
    os.waitpid(pid, 0)


def ns(session):
    names = new_namespace(session)
    return names["__builtins__"]


# ---- the strict decoder ------------------------------------------------------------------------------

def test_plain_data_comes_back_as_exactly_these_types():
    handles = Handles()
    enc = Encoder(handles).begin()
    value = {"a": [1, 2.5, None, True, "s", b"by"], (1, 2): {3}, "t": torch.arange(6.0).reshape(2, 3),
             "n": np.arange(4, dtype=np.int16), "k": np.float64(0.5), "z": complex(1, 2), "sz": torch.Size([2, 3])}
    tree = json.loads(json.dumps(enc.value(value)))
    back = Decoder(lambda h, t: ("ref", h, t)).decode(tree, enc.buffers)
    assert back.keys() == value.keys() and back[(1, 2)] == {3} and back["a"] == value["a"]
    assert type(back["t"]) is torch.Tensor and torch.equal(back["t"], value["t"])
    assert type(back["n"]) is np.ndarray and back["n"].dtype == np.int16 and type(back["k"]) is np.float64
    assert type(back["sz"]) is torch.Size and type(back["a"][4]) is StudentStr


def test_subclasses_and_objects_stay_in_the_kernel():
    class Sub(dict):
        pass
    enc = Encoder(Handles()).begin()
    for obj in (Sub(a=1), np.array([object()]), type("F", (float,), {})(1.0), lambda: 0, [[[[]]]] * 2):
        tree = enc.value(obj)
        assert tree[0] == "R" or obj == [[[[]]]] * 2, (obj, tree)
    fake = torch.ones(2).as_subclass(type("Spoof", (torch.Tensor,), {}))
    assert enc.value(fake)[0] == "R", "a Tensor subclass is never plain data"


@pytest.mark.parametrize("tree, buffers", [
    (["X", 1], []),                                        # an unknown tag
    (["A", 0, "|O8", [1]], [b"\0" * 8]),                   # an object array
    (["T", 0, "float32", [4], None, False, None], [b"\0" * 8]),   # bytes do not match the shape
    (["l", ["b", 0], ["b", 0]], [b"x"]),                   # one buffer used twice
    (["R", "1", "x"], []),                                 # a handle that is not an int
    ({"__class__": "os.system"}, []),                      # not a tagged list
])
def test_the_decoder_refuses_what_is_not_plain_data(tree, buffers):
    with pytest.raises(ProtocolError):
        Decoder(lambda h, t: None).decode(tree, buffers)


def test_student_text_shows_as_one_short_line():
    text = StudentStr("first line\n" + "hidden " * 1000)
    assert f"{text}" == "first line …" and repr(text) == repr("first line …") and text.startswith("first line\nhidden")


def test_a_frame_longer_than_the_limit_is_refused():
    a, b = socket.socketpair()
    a.sendall((1 << 40).to_bytes(8, "big"))
    with pytest.raises(frames.FrameError):
        frames.Reader(b).recv(max_bytes=1 << 20)


# ---- proxies, errors, write-back, links ----------------------------------------------------------------

def test_student_objects_are_proxies_whose_operators_run_in_the_kernel(kernel):
    b = ns(kernel)
    Value = b["Value"]
    v = Value(2.0)
    assert type(v) is Remote and b["isinstance"](v, Value) and not b["isinstance"](v, float)
    w = 1.5 + v * 3 + v
    assert w.data == 9.5 and b["type"](w).__name__ == "Value"
    before = kernel.requests
    y = v
    for _ in range(500):
        y = y + v
    assert y.data == 2.0 * 501 and kernel.requests - before <= 3, "a chain of operators is pipelined"


def test_student_exceptions_come_back_as_builtins_cut_short_and_marked(kernel):
    b = ns(kernel)
    with pytest.raises(ValueError) as info:
        b["Value"](1.0).broken()
    assert str(info.value) == "first line of a long story …" and student_origin(info.value).names[0] == "builtins.ValueError"
    with pytest.raises(NotImplementedError):
        b["stub"]()
    with pytest.raises(AttributeError):
        b["Value"](1.0).nothing
    assert not hasattr(b["Value"](1.0), "nothing")


def test_a_failed_pipelined_operator_fails_the_next_request(kernel):
    b = ns(kernel)
    v = b["Value"](1.0)
    bad = v + b["stub"]                    # not waited for: Value.__add__ adds a float and a function
    with pytest.raises(TypeError):
        kernel.request("ping")
    with pytest.raises(TypeError):
        bad.data


def test_changed_arguments_and_linked_tensors_change_here_too(kernel):
    b = ns(kernel)
    x = torch.ones(3)
    out = b["scale_"](x, 2.0)
    assert out is x and torch.equal(x, torch.full((3,), 2.0)), "the student's in-place change reaches the test's x"
    items, arrays = [], [np.zeros(2)]
    b["append_to"](items, arrays)
    assert items == [1] and arrays[0].tolist() == [1.0, 1.0]
    w = torch.ones(2, requires_grad=True)
    opt = b["SGD"]([w], lr=0.5)
    (w * 3).sum().backward()               # the test's gradient reaches the kernel's copy...
    opt.step()                             # ...and the student's step reaches the test's w
    assert torch.equal(w.detach(), torch.full((2,), -0.5))


def test_a_models_parameters_stay_linked(kernel):
    b = ns(kernel)
    lin = kernel.request("keep", torch.nn.Linear(2, 1))
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))       # a parameter read from the kernel, changed here
        lin.bias.zero_()
    assert b["call_model"](lin, torch.tensor([[1.0, 1.0]])).item() == 3.0


def test_a_tests_functions_generators_and_objects_stay_here(kernel):
    b = ns(kernel)
    secret = "hidden test line"
    assert b["apply"](lambda z: z * 10, 4) == 40
    assert b["total"](torch.ones(2) * k for k in range(3)) == 6.0

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.modes = []

        def forward(self, x):
            self.modes.append(torch.is_grad_enabled())
            return x + 1

    probe = Probe()
    assert b["call_model"](probe, torch.zeros(1)).item() == 1.0 and probe.modes == [False]

    def leaky(z):
        raise AssertionError(secret)
    with pytest.raises(AssertionError) as info:
        b["apply"](leaky, 1)
    assert secret not in str(info.value), "a test's own message never goes to the kernel"
    with pytest.raises(AttributeError):
        b["peek"](probe)                   # the test object's own dict (its data, its methods) stays here


def test_the_tests_grad_mode_reaches_student_code(kernel):
    grad_mode = ns(kernel)["grad_mode"]
    with torch.no_grad():
        assert grad_mode() is False
    assert grad_mode() is True


def test_helpers_read_a_tensor_subclass_by_its_data_and_refuse_other_objects(kernel):
    grading = Grading(kernel)
    fake = kernel.request("call", ns(kernel)["Fake"], (), {})
    assert type(grading.plain(fake, "x")) is torch.Tensor
    with pytest.raises(AssertionError, match="expected an array or tensor, got __main__.Value"):
        grading.plain(ns(kernel)["Value"](1.0), "x")


class _Unreadable:
    def __reduce__(self):
        return int, ("not a number",)


def test_a_request_the_kernel_cannot_read_is_an_error_not_a_crash(kernel):
    with pytest.raises(ValueError):
        ns(kernel)["apply"](len, _Unreadable())
    assert ns(kernel)["Value"](1.0).data == 1.0


# ---- time limits, dead kernels, lying kernels ------------------------------------------------------------

def test_a_loop_is_interrupted_at_the_deadline_and_the_kernel_goes_on(kernel):
    kernel.deadline = time.monotonic() + 1.0
    with pytest.raises(CellTimeout):
        ns(kernel)["loop"]()
    kernel.deadline = None
    kernel.resync()
    assert ns(kernel)["Value"](3.0).data == 3.0


def test_a_kernel_that_ignores_interrupts_or_dies_is_reported_not_fatal():
    session, pid = start_kernel()
    session.deadline = time.monotonic() + 1.0
    with pytest.raises(KernelDied, match="did not stop"):
        ns(session)["stubborn"]()
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    session, pid = start_kernel()
    with pytest.raises(KernelDied):
        ns(session)["die"]()
    os.waitpid(pid, 0)


def test_a_kernel_that_sends_garbage_is_not_believed():
    ours, theirs = socket.socketpair()
    session = Session(ours)
    frames.send(theirs, json.dumps(["ok", 1, ["X", "os.system"], [], []]).encode())
    with pytest.raises(KernelDied, match="not plain"):
        session.request("ping")


def test_a_test_cell_runs_here_and_says_where_it_failed(kernel):
    names = new_namespace(kernel)
    source = "v = Value(2.0)\nassert v.data == 2.0\n### BEGIN HIDDEN TESTS\nassert v.data == 3.0, 'hidden says why'\n"
    outcome = run_test(source, "<test cell t>", names, kernel, time.monotonic() + 30)
    assert (outcome.kind, outcome.line, outcome.message) == ("failed", 4, "AssertionError: hidden says why")
    outcome = run_test("stub()", "<test cell t>", names, kernel, time.monotonic() + 30)
    assert (outcome.kind, outcome.ename) == ("student", "NotImplementedError")
    outcome = run_test("while True:\n    pass\n", "<test cell t>", names, kernel, time.monotonic() + 0.5)
    assert outcome.kind == "timeout", "a loop in the test's own code is stopped too"
