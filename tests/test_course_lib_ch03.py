"""Chapter 3's library: CIFAR-10 parsing and download, the on-device loader, noise scale, S(B) fit, trainer.

Tests build a tiny archive in the real CIFAR-10 python format; they never read ../shared/data.
"""
from __future__ import annotations

import hashlib
import io
import math
import pickle
import tarfile

import numpy as np
import pytest
import torch

from course_lib import batch_sweep, cifar10, data, noise_scale
from course_lib.cifar_trainer import CifarNet, evaluate, lr_schedule, train, tta_logits, whitening_filters
from course_lib.loader import DeviceLoader, random_crop_flip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One BLAS/OpenMP thread: the small convolutions here run slower, not faster, on a shared CPU's threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"testing batch", b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def make_archive(path, n_per_batch=7, drop=None):
    """A .tar.gz laid out like cifar-10-python.tar.gz, with n_per_batch images per batch."""
    batches = {}
    with tarfile.open(path, "w:gz") as tar:
        for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
            if name == drop:
                continue
            batches[name] = _batch(n_per_batch, k)
            raw = pickle.dumps(batches[name], protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return batches


def test_read_archive_layout_is_rgb_planes_row_major(tmp_path):
    batches = make_archive(tmp_path / "c.tar.gz")
    x, y = cifar10.read_archive(tmp_path / "c.tar.gz", "train")
    assert x.dtype == torch.uint8 and x.shape == (35, 3, 32, 32) and y.dtype == torch.int64
    row = batches["data_batch_2"][b"data"][3]          # 7 + 3rd image overall: batches keep their order
    img = x[7 + 3]
    assert img[0, 0, 1] == row[1] and img[0, 1, 0] == row[32]        # red plane, row-major
    assert img[1, 0, 0] == row[1024] and img[2, 31, 31] == row[3071]  # green, then blue
    assert y.tolist() == sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    tx, ty = cifar10.read_archive(tmp_path / "c.tar.gz", "test")
    assert tx.shape == (7, 3, 32, 32) and ty.tolist() == batches["test_batch"][b"labels"]


def test_read_archive_errors_name_the_problem(tmp_path):
    make_archive(tmp_path / "c.tar.gz", drop="data_batch_4")
    with pytest.raises(cifar10.CIFARFormatError, match="data_batch_4.*python"):
        cifar10.read_archive(tmp_path / "c.tar.gz")
    (tmp_path / "junk.tar.gz").write_bytes(b"not an archive")
    with pytest.raises(cifar10.CIFARFormatError, match="not a gzipped tar"):
        cifar10.read_archive(tmp_path / "junk.tar.gz")
    with pytest.raises(ValueError, match="split"):
        cifar10.read_archive(tmp_path / "c.tar.gz", "valid")


def test_load_goes_through_the_md5_checked_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    make_archive(cache / "cifar-10-python.tar.gz")
    monkeypatch.setenv("COURSE_DATA_DIR", str(cache))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(data.DownloadError, match="exists but its md5"):   # the real md5 does not match
        cifar10.load("train")
    md5 = hashlib.md5((cache / "cifar-10-python.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(cifar10, "MD5", md5)
    x, y = cifar10.load("test")
    assert x.shape == (7, 3, 32, 32)


def test_download_needs_exactly_one_checksum():
    with pytest.raises(ValueError, match="exactly one checksum"):
        data.download("http://127.0.0.1:9/x.bin")
    with pytest.raises(ValueError, match="exactly one checksum"):
        data.download("http://127.0.0.1:9/x.bin", "0" * 64, md5="0" * 32)


def test_load_npz_checks_the_format(tmp_path):
    np.savez(tmp_path / "ok.npz", images=np.zeros((4, 3, 32, 32), np.uint8), labels=np.arange(4))
    x, y = cifar10.load_npz(tmp_path / "ok.npz")
    assert x.shape == (4, 3, 32, 32) and y.dtype == torch.int64
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 32, 32, 3), np.uint8), labels=np.arange(4))
    with pytest.raises(cifar10.CIFARFormatError, match=r"\(N, 3, 32, 32\)"):
        cifar10.load_npz(tmp_path / "bad.npz")


# ---- loader -------------------------------------------------------------------------------------

def _toy(n=50):
    x = torch.arange(n, dtype=torch.float32)[:, None, None, None].expand(n, 3, 32, 32).contiguous()
    return x, torch.arange(n)


@pytest.mark.parametrize("n,bs,drop,sizes", [(50, 16, False, [16, 16, 16, 2]), (50, 16, True, [16, 16, 16]),
                                              (48, 16, False, [16, 16, 16]), (5, 8, False, [5])])
def test_loader_batches_ragged_or_dropped(n, bs, drop, sizes):
    x, y = _toy(n)
    loader = DeviceLoader(x, y, bs, drop_last=drop, device="cpu", mean=(0, 0, 0), std=(1, 1, 1))
    batches = list(loader)
    assert [len(b[1]) for b in batches] == sizes and len(loader) == len(sizes)
    seen = torch.cat([b[1] for b in batches])
    assert len(set(seen.tolist())) == len(seen), "an example came twice in one epoch"
    for xb, yb in batches:                      # images travel with their own labels
        assert torch.equal(xb[:, 0, 0, 0], yb.float())


def test_loader_is_deterministic_under_a_seed_and_reshuffles_each_epoch():
    x, y = _toy()
    a = DeviceLoader(x, y, 16, augment=True, seed=3, device="cpu")
    b = DeviceLoader(x, y, 16, augment=True, seed=3, device="cpu")
    ea, eb = [torch.cat([t[1] for t in a]) for _ in range(2)], [torch.cat([t[1] for t in b]) for _ in range(2)]
    assert torch.equal(ea[0], eb[0]) and torch.equal(ea[1], eb[1])
    assert not torch.equal(ea[0], ea[1]), "the second epoch must be shuffled anew"
    assert torch.equal(torch.cat([t[1] for t in DeviceLoader(x, y, 16, shuffle=False, device="cpu")]), y)


def test_loader_normalises_and_rejects_bad_input():
    x = torch.full((4, 3, 32, 32), 100, dtype=torch.uint8)
    xb, _ = next(iter(DeviceLoader(x, torch.zeros(4), 4, device="cpu", mean=(100, 50, 0), std=(1, 10, 100))))
    assert torch.allclose(xb[:, :, 0, 0], torch.tensor([0.0, 5.0, 1.0]).expand(4, 3))
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(x, torch.zeros(4), 0, device="cpu")
    with pytest.raises(ValueError, match="one label each"):
        DeviceLoader(x, torch.zeros(3), 2, device="cpu")


def test_random_crop_flip_cuts_windows_of_the_padded_image():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    out = random_crop_flip(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    flips = shifts = 0
    for i in range(64):
        windows = [(dy, dx, f) for dy in range(5) for dx in range(5) for f in (False, True)
                   if torch.equal(out[i], (lambda w: w.flip(2) if f else w)(padded[i, :, dy:dy + 8, dx:dx + 8]))]
        assert windows, f"image {i} is not a (possibly flipped) 8x8 window of its padded original"
        flips += windows[0][2]
        shifts += windows[0][:2] != (2, 2)
    assert 16 < flips < 48 and shifts > 32, "crops and flips should vary across the batch"


# ---- noise scale --------------------------------------------------------------------------------

def test_two_batch_estimates_invert_the_expected_norms():
    g2, tr = 3.0, 120.0
    for b, big in [(4, 64), (10, 11), (1, 1000)]:
        got = noise_scale.two_batch_estimates(g2 + tr / b, g2 + tr / big, b, big)
        assert got == pytest.approx((g2, tr))
    with pytest.raises(ValueError, match="b_small < b_big"):
        noise_scale.two_batch_estimates(1.0, 1.0, 64, 8)


def test_noise_scale_on_linear_regression_matches_the_exact_per_example_covariance():
    torch.manual_seed(0)
    n, d = 20000, 10
    X = torch.randn(n, d, dtype=torch.float64)
    y = X @ torch.randn(d, 1, dtype=torch.float64) + 0.5 * torch.randn(n, 1, dtype=torch.float64)
    model = torch.nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, d, dtype=torch.float64) * 0.3)
    per_example = 2 * (X @ model.weight.detach().T - y) * X                 # (n, d): d(residual²)/dw
    G = per_example.mean(0)
    exact = ((per_example - G) ** 2).sum(1).mean() / G.pow(2).sum()   # tr(Σ) / |G|²
    est = noise_scale.estimate_noise_scale(model, torch.nn.functional.mse_loss, X, y, 8, 256, draws=600)
    assert est.b_simple == pytest.approx(exact.item(), rel=0.15)
    assert est.g2 == pytest.approx(float(G.pow(2).sum()), rel=0.15)


def test_running_average_modes():
    est = noise_scale.NoiseScaleEstimator(2, 4)
    for s, b in [(5.0, 3.0), (7.0, 4.0)]:
        est.update(s, b)
    g2s = [noise_scale.two_batch_estimates(s, b, 2, 4) for s, b in [(5.0, 3.0), (7.0, 4.0)]]
    assert est.g2 == pytest.approx(np.mean([g for g, _ in g2s]))
    assert est.b_simple == pytest.approx(np.mean([t for _, t in g2s]) / np.mean([g for g, _ in g2s]))
    ema = noise_scale.NoiseScaleEstimator(2, 4, decay=0.5)
    ema.update(5.0, 3.0)
    ema.update(7.0, 4.0)
    assert ema.g2 == pytest.approx(0.5 * g2s[0][0] + 0.5 * g2s[1][0])
    with pytest.raises(RuntimeError, match="no updates"):
        noise_scale.NoiseScaleEstimator(2, 4).b_simple


# ---- S(B) fit -----------------------------------------------------------------------------------

def test_fit_recovers_s_min_and_b_crit():
    b = np.array([16, 32, 64, 128, 256, 512, 1024])
    s = batch_sweep.predicted_steps(b, 300.0, 200.0)
    assert batch_sweep.fit_steps_vs_batch(b, s) == pytest.approx((300.0, 200.0))
    noisy = s * np.exp(np.random.default_rng(0).normal(0, 0.03, len(s)))
    s_min, b_crit = batch_sweep.fit_steps_vs_batch(b, noisy)
    assert s_min == pytest.approx(300, rel=0.1) and b_crit == pytest.approx(200, rel=0.2)
    with pytest.raises(ValueError, match="positive"):
        batch_sweep.fit_steps_vs_batch([8, 16], [10, 0])


def test_steps_to_target():
    curve = [(10, 0.2), (20, 0.35), (30, 0.5), (40, 0.45)]
    assert batch_sweep.steps_to_target(curve, 0.4) == 30
    assert batch_sweep.steps_to_target(curve, 0.9) is None
    assert batch_sweep.steps_to_target([(1, 2.3), (2, 1.1)], 1.5, higher_is_better=False) == 2


def test_crossing_brackets_and_interpolates_the_first_crossing():
    curve = [(10, 0.2), (20, 0.35), (30, 0.5), (40, 0.45), (50, 0.6)]
    c = batch_sweep.crossing(curve, 0.4)
    assert (c.before, c.after) == (20, 30) and c.step == pytest.approx(20 + 10 * 0.05 / 0.15)
    assert c.resolution == pytest.approx(10 / 30)
    assert batch_sweep.crossing(curve, 0.7) is None
    first = batch_sweep.crossing([(8, 0.9)], 0.5)           # nothing before it: bracketed from step 0
    assert (first.before, first.after, first.step) == (0, 8, 8.0)


@pytest.mark.parametrize("first,last,resolution", [(1, 400, 0.04), (60, 61, 0.04), (5, 1000, 0.25)])
def test_evaluation_steps_are_fine_enough_everywhere(first, last, resolution):
    steps = batch_sweep.evaluation_steps(first, last, resolution)
    assert steps[0] == first and steps[-1] == last and steps == sorted(set(steps))
    for a, b in zip(steps, steps[1:]):
        assert b - a == 1 or (b - a) / b <= resolution, f"gap {a}..{b} is coarser than {resolution}"
    with pytest.raises(ValueError, match="first <= last"):
        batch_sweep.evaluation_steps(10, 5)


# ---- trainer ------------------------------------------------------------------------------------

def test_lr_schedule_warms_up_then_decays_to_zero():
    lrs = [lr_schedule(s, 100, 0.4, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.04) and lrs[9] == pytest.approx(0.4) and max(lrs) == pytest.approx(0.4)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] == pytest.approx(0.4 / 90)


def test_whitening_filters_whiten_patches():
    torch.manual_seed(0)
    mix = torch.randn(3, 3)
    x = torch.einsum("ij,njhw->nihw", mix, torch.randn(200, 3, 8, 8)).cumsum(3)   # correlated pixels
    out = torch.nn.functional.conv2d(x, whitening_filters(x, 2, eps=0.0)[:12].double().float())
    flat = out.permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(flat.T)
    assert torch.allclose(cov, torch.eye(12), atol=0.05)


def test_trainer_learns_synthetic_classes_on_cpu():
    x, y = cifar10.synthetic(600, seed=1)
    tx, ty = cifar10.synthetic(203, seed=2)
    r = train(x, y, tx, ty, steps=20, batch_size=128, lr=0.1, widths=(16, 32, 64), eval_every=10, device="cpu",
              progress=False)
    assert r.dtype == "float32" and not r.compiled and [s for s, _ in r.curve] == [10, 20]
    assert r.accuracy > 0.5 and r.images_per_second > 0 and len(r.losses) == 20   # chance is 0.1
    assert math.isclose(r.losses[0], math.log(10), abs_tol=0.3), "the head starts near uniform: loss ≈ ln 10"
    net = CifarNet((8, 8, 8))
    net.init_whitening(torch.randn(20, 3, 32, 32))
    loader = DeviceLoader(tx, ty, 50, shuffle=False, device="cpu")       # 203 = 4 x 50 + a ragged 3
    acc = evaluate(net, loader)
    assert 0 <= acc <= 1 and net.training


def test_tta_levels_average_the_views_airbench_averages():
    torch.manual_seed(0)
    net = CifarNet((8, 8, 8)).eval()
    net.init_whitening(torch.randn(20, 3, 32, 32))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(tta_logits(net, x, 0), net(x))
        mirror = 0.5 * net(x) + 0.5 * net(x.flip(-1))
        assert torch.allclose(tta_logits(net, x, 1), mirror)
        p = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        views = [p[..., :32, :32], p[..., 2:, 2:]]
        shifted = sum(0.5 * net(v) + 0.5 * net(v.flip(-1)) for v in views) / 2
        assert torch.allclose(tta_logits(net, x, 2), 0.5 * mirror + 0.5 * shifted, atol=1e-6)
    with pytest.raises(ValueError, match="TTA level"):
        tta_logits(net, x, 3)


def test_trainer_options_for_sweeps_eval_grid_schedule_whitening_and_step_times():
    x, y = cifar10.synthetic(300, seed=1)
    tx, ty = cifar10.synthetic(101, seed=2)
    filters = whitening_filters(DeviceLoader(x, y, 1, device="cpu").images)
    seen, lrs = [], []

    def on_step(step, model):
        seen.append(step)
        lrs.append(model.training)
    r = train(x, y, tx, ty, steps=7, batch_size=64, widths=(8, 8, 8), eval_at=[2, 5], tta=0, whitening=filters,
              schedule=lambda step: 0.01 * (step + 1), on_step=on_step, device="cpu", progress=False)
    assert [s for s, _ in r.curve] == [2, 5, 7], "evaluated at eval_at and at the last step"
    assert seen == list(range(1, 8)) and all(lrs)
    assert len(r.step_cpu_seconds) == 7 and r.cpu_seconds == pytest.approx(sum(r.step_cpu_seconds))
    assert r.accuracy == r.curve[-1][1], "without TTA the last evaluation is the final accuracy"
    assert torch.equal(r.model.whiten.weight, filters)
    # the same filters computed inside: the same run
    r2 = train(x, y, tx, ty, steps=7, batch_size=64, widths=(8, 8, 8), eval_at=[2, 5], tta=0,
               schedule=lambda step: 0.01 * (step + 1), device="cpu", progress=False)
    assert r2.curve == r.curve and r2.losses == r.losses
    stopped = train(x, y, tx, ty, steps=50, batch_size=64, widths=(8, 8, 8), eval_at=range(1, 51), stop_at=0.0,
                    tta=0, whitening=filters, device="cpu", progress=False)
    assert len(stopped.losses) == 1, "stop_at ends the run at the first evaluation that reaches it"
    with pytest.raises(ValueError, match="either images"):
        CifarNet((8, 8, 8)).init_whitening()


def test_whitening_without_centering_uses_the_second_moment():
    x = torch.randn(50, 3, 8, 8) + 3.0                  # a large mean: centring changes the filters
    assert not torch.allclose(whitening_filters(x, 2), whitening_filters(x, 2, center=False))


def test_the_gpu_try_it_trains_the_network_and_rate_the_page_measures():
    """The page times FULL_RECIPE against airbench94; the exercise's GPU Try it must train that same
    network at the rate the comparison chose on validation (one owner: cifar_trainer.FULL_RECIPE)."""
    import json
    from pathlib import Path

    from course_lib.cifar_trainer import FULL_RECIPE
    repo = Path(__file__).resolve().parents[1]
    bench = json.loads((repo / "benchmarks" / "results" / "ch03_trainer_vs_airbench.json").read_text())
    course = "course CifarNet"
    assert tuple(bench["networks"][course]["widths"]) == tuple(FULL_RECIPE["widths"])
    assert bench["tuning"]["chosen"][course] == FULL_RECIPE["lr"], "FULL_RECIPE's lr is not the one tuned on validation"
    assert bench["args"]["batch_size"] == FULL_RECIPE["batch_size"]
    notebook = json.loads((repo / "solutions" / "ch03" / "ch03.ipynb").read_text())
    try_it = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"
              and "train(" in "".join(c["source"]) and "grade_id" not in c["metadata"].get("nbgrader", {})]
    assert try_it and all("pick(full=FULL_RECIPE" in src for src in try_it), \
        "the notebook's GPU Try it cell must train FULL_RECIPE on a GPU"
