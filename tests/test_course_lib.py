"""Unit tests of course_lib: every chapter stands on these."""
from __future__ import annotations

import hashlib
import json
import http.server
import random
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

import course_lib
from course_lib import data, device, gradcheck, plotting, results, runsize, testing


# ---- device ---------------------------------------------------------------------------------

def fake_gpu(monkeypatch, capability, cuda=True, mps=False):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda d=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what a T4 claims
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_device_order_cuda_then_mps_then_cpu(monkeypatch):
    fake_gpu(monkeypatch, (8, 0), cuda=True, mps=True)
    assert device.pick_device().type == "cuda"
    fake_gpu(monkeypatch, (8, 0), cuda=False, mps=True)
    assert device.pick_device().type == "mps"
    fake_gpu(monkeypatch, (8, 0), cuda=False, mps=False)
    assert device.pick_device().type == "cpu"


@pytest.mark.parametrize("capability, dtype", [
    ((7, 5), torch.float16),   # T4: reports bf16 "supported" (emulated): use fp16
    ((7, 0), torch.float16),   # V100
    ((8, 0), torch.bfloat16),  # A100
    ((8, 9), torch.bfloat16),  # L4 / RTX 40xx
    ((9, 0), torch.bfloat16),  # H100
])
def test_autocast_dtype_bf16_only_where_native(monkeypatch, capability, dtype):
    fake_gpu(monkeypatch, capability)
    assert device.autocast_dtype("cuda") == dtype
    assert device.needs_grad_scaler(dtype) == (dtype == torch.float16)


def test_autocast_dtype_cpu_and_mps():
    assert device.autocast_dtype("cpu") == torch.float32
    assert device.autocast_dtype("mps") == torch.float16
    assert not device.needs_grad_scaler(torch.float32)


def test_describe_environment_reports_versions_and_device():
    info = course_lib.describe_environment()
    assert info["torch"] == torch.__version__ and info["numpy"] == np.__version__
    assert info["device"] == course_lib.pick_device().type
    assert info["colab"] is False


# ---- seeding ---------------------------------------------------------------------------------

def draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_reproduces_every_generator():
    gen = course_lib.seed_everything(123)
    first, g1 = draw(), torch.rand(2, generator=gen)
    gen = course_lib.seed_everything(123)
    assert draw() == first and torch.equal(torch.rand(2, generator=gen), g1)
    course_lib.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="non-negative int"):
        course_lib.seed_everything(bad)


# ---- run size ----------------------------------------------------------------------------------

def test_run_size_follows_device_and_env(monkeypatch):
    monkeypatch.delenv(runsize.ENV_VAR, raising=False)
    monkeypatch.delenv("CI", raising=False)
    fake_gpu(monkeypatch, (8, 0), cuda=True)
    assert runsize.run_size() == "full" and runsize.pick(full=5000, smoke=20) == 5000
    monkeypatch.setenv("CI", "true")
    assert runsize.run_size() == "smoke", "CI is always a smoke run unless overridden"
    monkeypatch.setenv(runsize.ENV_VAR, "full")
    assert runsize.run_size() == "full"
    fake_gpu(monkeypatch, (8, 0), cuda=False)
    monkeypatch.delenv("CI")
    monkeypatch.delenv(runsize.ENV_VAR)
    assert runsize.run_size() == "smoke" and runsize.pick(full=5000, smoke=20) == 20
    monkeypatch.setenv(runsize.ENV_VAR, "FULL")
    assert runsize.run_size() == "full"


def test_run_size_rejects_unknown_value(monkeypatch):
    monkeypatch.setenv(runsize.ENV_VAR, "huge")
    with pytest.raises(ValueError, match="COURSE_RUN_SIZE='huge'.*smoke.*full"):
        runsize.run_size()


# ---- downloads ----------------------------------------------------------------------------------

@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on localhost serving tmp_path/www; counts requests."""
    root = tmp_path / "www"
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    return tmp_path / "cache"


def test_download_fetches_verifies_and_caches(http_server, cache):
    root, base, hits = http_server
    payload = b"First Citizen:\nBefore we proceed any further, hear me speak.\n" * 100
    (root / "input.txt").write_bytes(payload)
    sha = hashlib.sha256(payload).hexdigest()
    path = data.download(f"{base}/input.txt", sha)
    assert path == cache / "input.txt" and path.read_bytes() == payload
    n = len(hits)
    assert data.download(f"{base}/input.txt", sha) == path
    assert len(hits) == n, "a cached file with the right checksum must not be downloaded again"


def test_download_checksum_mismatch_leaves_no_file(http_server, cache):
    root, base, _ = http_server
    (root / "data.bin").write_bytes(b"truncated")
    with pytest.raises(data.DownloadError, match="checksum mismatch.*expected 0000"):
        data.download(f"{base}/data.bin", "0" * 64)
    assert not (cache / "data.bin").exists()
    assert not list(cache.glob("*.part")), "partial downloads must be cleaned up"


def test_download_replaces_a_corrupted_cache_file(http_server, cache):
    root, base, _ = http_server
    (root / "a.txt").write_bytes(b"good")
    cache.mkdir(parents=True)
    (cache / "a.txt").write_bytes(b"bad")
    path = data.download(f"{base}/a.txt", hashlib.sha256(b"good").hexdigest())
    assert path.read_bytes() == b"good"


def test_download_http_error_names_url_and_cache_path(http_server, cache):
    _, base, _ = http_server
    with pytest.raises(data.DownloadError) as err:
        data.download(f"{base}/missing.tgz", "0" * 64)
    assert f"{base}/missing.tgz" in str(err.value) and str(cache / "missing.tgz") in str(err.value)
    assert "COURSE_OFFLINE" in str(err.value)


def test_download_offline(http_server, cache, monkeypatch):
    root, base, hits = http_server
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    (root / "x.npz").write_bytes(b"x")
    with pytest.raises(data.DownloadError, match="not in the cache and COURSE_OFFLINE is set"):
        data.download(f"{base}/x.npz", hashlib.sha256(b"x").hexdigest())
    assert not hits, "offline mode must not touch the network"
    cache.mkdir(parents=True)
    (cache / "x.npz").write_bytes(b"x")   # the user put the file there by hand
    assert data.download(f"{base}/x.npz", hashlib.sha256(b"x").hexdigest()) == cache / "x.npz"
    (cache / "x.npz").write_bytes(b"y")
    with pytest.raises(data.DownloadError, match="exists but its sha256"):
        data.download(f"{base}/x.npz", hashlib.sha256(b"x").hexdigest())


# ---- committed results -----------------------------------------------------------------------------

def test_read_result_finds_the_repository_copy(cache):
    want = (Path(course_lib.__file__).parent.parent / "benchmarks" / "results" / "ch02_micrograd_speed.json")
    assert results.read_result("ch02_micrograd_speed.json") == json.loads(want.read_text())
    with pytest.raises(FileNotFoundError, match="no_such.json does not exist"):
        results.read_result("no_such.json")
    with pytest.raises(ValueError, match="a file name in benchmarks/results/"):
        results.read_result("../ch02_micrograd_speed.json")


def test_raw_url_points_at_the_default_branch():
    assert results.raw_url("https://github.com/dl-course/dl-course", "a.json") == \
        "https://raw.githubusercontent.com/dl-course/dl-course/HEAD/benchmarks/results/a.json"
    assert results.raw_url("https://github.com/org/repo.git/", "a.json").startswith(
        "https://raw.githubusercontent.com/org/repo/HEAD/")


@pytest.fixture
def no_repository(http_server, cache, monkeypatch):
    """As in a page's Colab twin: course_lib installed, no repository; the 'repository' is served locally."""
    root, base, hits = http_server
    (root / "benchmarks" / "results").mkdir(parents=True)
    monkeypatch.setattr(results, "_repository_results", lambda: None)
    monkeypatch.setattr(results, "raw_url", lambda repository, name: f"{repository}/benchmarks/results/{name}")
    monkeypatch.setenv("COURSE_REPOSITORY", base)
    return root / "benchmarks" / "results", hits


def test_read_result_downloads_once_without_a_repository(no_repository, cache):
    served, hits = no_repository
    (served / "r.json").write_text('{"loss": 1.5}')
    assert results.read_result("r.json") == {"loss": 1.5}
    n = len(hits)
    assert results.read_result("r.json") == {"loss": 1.5} and len(hits) == n, "the cached copy is used"
    assert (cache / "results" / "r.json").is_file()


def test_read_result_keeps_no_cut_off_or_missing_file(no_repository, cache, monkeypatch):
    served, _ = no_repository
    (served / "cut.json").write_text('{"loss": 1.')
    for name in ("cut.json", "missing.json"):
        with pytest.raises(data.DownloadError, match=f"could not download .*{name}.*save it as"):
            results.read_result(name)
    assert not list((cache / "results").iterdir())
    monkeypatch.delenv("COURSE_REPOSITORY")
    with pytest.raises(data.DownloadError, match="set-up\\) cell"):
        results.read_result("r.json")


# ---- plotting ----------------------------------------------------------------------------------

def test_course_style_applies(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plotting.use_course_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    fig.savefig(tmp_path / "f.png")
    plt.close(fig)
    assert (tmp_path / "f.png").stat().st_size > 1000


# ---- numeric gradients --------------------------------------------------------------------------

def test_numeric_grad_matches_autograd_on_any_shape():
    def f(a):
        return float(np.sum(np.tanh(a) * a ** 2))

    rng = np.random.default_rng(0)
    for shape in [(), (3,), (2, 3), (2, 1, 4)]:
        x = rng.standard_normal(shape)
        t = torch.tensor(x, requires_grad=True)
        (torch.tanh(t) * t ** 2).sum().backward()
        g = gradcheck.numeric_grad(f, x.copy())
        assert g.shape == x.shape
        assert gradcheck.relative_error(g, t.grad.numpy()) < 1e-8


def test_numeric_grad_restores_input_and_needs_float64():
    x = np.array([1.0, 2.0])
    gradcheck.numeric_grad(lambda a: float((a ** 2).sum()), x)
    assert np.array_equal(x, [1.0, 2.0])
    with pytest.raises(TypeError, match="float64"):
        gradcheck.numeric_grad(lambda a: float(a.sum()), np.ones(2, dtype=np.float32))


def test_relative_error_is_scale_free():
    a = np.array([1e6, 2e6])
    assert gradcheck.relative_error(a, a * (1 + 1e-9)) < 1e-8
    assert gradcheck.relative_error(a, -a) == pytest.approx(1.0)


# ---- test helpers --------------------------------------------------------------------------------

def test_assert_shape_messages_teach():
    testing.assert_shape("dL/dw", np.zeros((2, 1)), (2, 1))
    with pytest.raises(AssertionError, match=r"dL/dw: expected shape \(2, 1\), got \(2,\)"):
        testing.assert_shape("dL/dw", np.zeros(2), (2, 1))
    with pytest.raises(AssertionError, match="forget to `return`"):
        testing.assert_shape("dL/dw", None, (2, 1))


def test_assert_close_reports_where_and_how_much():
    testing.assert_close("grad", torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    with pytest.raises(AssertionError, match=r"grad: values differ.*index \(1,\): got 2.5, expected 2"):
        testing.assert_close("grad", [1.0, 2.5], [1.0, 2.0])
    with pytest.raises(AssertionError, match=r"expected shape \(2,\), got \(2, 1\)"):
        testing.assert_close("grad", np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(AssertionError, match="NaN"):
        testing.assert_close("loss", [float("nan")], [0.0])
    with pytest.raises(AssertionError, match="complex"):
        testing.assert_close("x ** 0.5", [1 + 0j, 2 + 1j], [1.0, 2.0])


def test_assert_own_rejects_imported_objects():
    namespace = {"__name__": "__main__"}
    exec("def mine(x):\n    return x", namespace)
    testing.assert_own(namespace["mine"])
    with pytest.raises(AssertionError, match="comes from the module 'course_lib.gradcheck'"):
        testing.assert_own(gradcheck.numeric_grad)
    with pytest.raises(AssertionError, match="function or class"):
        testing.assert_own(torch.nn.functional.relu(torch.zeros(1)))


def test_forward_calls_records_mode_grad_and_shapes_and_removes_its_hook():
    net = torch.nn.Linear(3, 2)

    def use(model, xs):
        model.eval()
        with torch.no_grad():
            out = [model(x) for x in xs]
        model(input=xs[0])
        return len(out)

    result, calls = testing.forward_calls(net, use, net, [torch.zeros(4, 3), torch.zeros(1, 3)])
    assert result == 2
    assert calls == [dict(grad_enabled=False, training=False, shapes=[(4, 3)]),
                     dict(grad_enabled=False, training=False, shapes=[(1, 3)]),
                     dict(grad_enabled=True, training=False, shapes=[(4, 3)])]
    assert not net._forward_pre_hooks


def test_assert_written_by_hand_flags_listed_functions_and_lets_the_rest_of_their_module_run():
    from course_lib import gpt
    model = gpt.GPT(gpt.GPTConfig(block_size=4, vocab_size=5, n_layer=1, n_head=1, n_embd=4))
    ids = torch.tensor([1, 2, 3])

    def own(m, i):                          # the model's forward (in course_lib.gpt) may run
        return m(i[None, :-1])[0]

    def wrapper(m, i):                      # gpt.surprisal is decorated with torch.no_grad()
        return gpt.surprisal(m, i)

    testing.assert_written_by_hand("own", own, model, ids, functions=[gpt.surprisal])
    with pytest.raises(AssertionError, match="course_lib.gpt.surprisal"):
        testing.assert_written_by_hand("wrapper", wrapper, model, ids, functions=[gpt.surprisal])


def test_assert_close_cannot_be_fooled_by_a_tensor_subclass():
    class Liar(torch.Tensor):                      # answers every unwrap with the expected values
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.Tensor.detach, torch.Tensor.as_subclass):
                return torch.tensor([1.0, 2.0])
            return super().__torch_function__(func, types, args, kwargs or {})

    with pytest.raises(AssertionError, match="values differ"):
        testing.assert_close("x", torch.zeros(2).as_subclass(Liar), torch.tensor([1.0, 2.0]))
    testing.assert_close("a parameter", torch.nn.Parameter(torch.tensor([1.0, 2.0])), torch.tensor([1.0, 2.0]))
