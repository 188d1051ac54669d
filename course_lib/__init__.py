"""course_lib: the shared library behind the course's chapters and exercise notebooks.

One idea per module; each module's docstring names the chapter that introduces it.

    module      chapter  what
    device         0     pick_device, autocast_dtype, needs_grad_scaler, in_colab, describe_environment
    seed           0     seed_everything
    runsize        0     run_size, pick ("full" on a GPU, "smoke" on CPU/CI; COURSE_RUN_SIZE overrides)
    data           0     download: the one way course code fetches files (checksummed, cached;
                         COURSE_OFFLINE, COURSE_DATA_DIR)
    datasets       1     small data sets that need no download: load_iris, train_test_split, make_moons
    plotting       0     use_course_style (phone-legible figures, SVG in Jupyter), PALETTE, legend_below,
                         check_figure
    tables         2     table: result rows as a Markdown table (an HTML table on the site)
    gradcheck      1     numeric_grad, relative_error
    testing        0     assert_shape, assert_close, assert_own, assert_written_by_hand (test helpers with
                         teaching messages)
    drawing        2     draw_graph (any micrograd-style computation graph)
    engine         2     Value, topological_order, linear (scalar reverse-mode autograd)
    nn             2     Module, Neuron, Layer, MLP (on the scalar engine)
    micrograd      2     engine + nn + make_moons + draw_graph under karpathy/micrograd's names
    results        2     read_result: the committed benchmark results the pages draw from (fetched in Colab)
    cifar10        3     CIFAR-10 from the official python archive (md5-checked download), load_npz, synthetic
    loader         3     DeviceLoader: the whole set on the device, crop/flip there, ragged or dropped last batch
    noise_scale    3     gradient noise scale B_simple from two batch sizes (McCandlish et al. 2018)
    batch_sweep    3     steps_to_target, fit_steps_vs_batch: S(B) = S_min (1 + B_crit / B) (Shallue et al. 2018)
    protocol       3     measured comparisons: per-seed summaries, Welch intervals, verdict words from intervals
    cifar_trainer  3     CifarNet (whitened, BatchNorm), lr_schedule, evaluate, train: the fast CIFAR-10 trainer
    transformer    4     the Transformer box by box: sinusoidal_positions, scaled_dot_product_attention,
                         causal_mask, padding_mask, MultiHeadAttention, LayerNorm, blocks, position_dependency
    widgets        1     precomputed_widget: controls that pick precomputed outputs, no kernel needed
    chardata       5     CharTokenizer, tiny_shakespeare_path, train_val_split (nanoGPT's 90/10), get_batch
    gpt            5     GPTConfig, GPT (nanoGPT's / GPT-2's parameter layout, HF loader), surprisal
    gpt_train      5     train, TrainConfig, lr_at, peak_flops, mfu; `python -m course_lib.gpt_train`
                         (bf16/fp16 autocast, fused AdamW, torch.compile, resume, DDP under torchrun)
    bm25           6     BM25 (Okapi; scores equal rank_bm25's BM25Okapi), words: ranking passages for a query
    knn_search     6     exact_search (one matrix product, L2 or cosine), recall_at_k, check_query
    faiss_index    6     build_index: faiss flat / IVF / HNSW / IVF-PQ, or exact search with one notice
                         when faiss is missing; bytes_per_entry
    knnlm          6     kNN-LM (Khandelwal et al. 2020): encode_positions, Datastore, build_datastore,
                         knn_distribution, interpolate, tune (on validation), KNNLM for sampling
    ralm           6     retrieval in context (Ram et al. 2023): PassageRetriever (BM25), in_context_input,
                         continuation_nll, evaluate_in_context
    tensor         7     Tensor (tinygrad's API): four op kinds, gradient rules over them, everything else derived
    lazy           7     LazyBuffer graph, View, create_schedule (fusion), generated C kernels (numpy fallback)
    charmlp        7     a character-level MLP for any tinygrad- or torch-style Tensor: init, windows, loss, SGD step
    kernelcheck    7     run_kernel_source: run an exercise's generated kernel source beside student code

`import course_lib` is cheap: the names in __all__ load their module (and torch) on first use, so
the scalar engine runs without importing torch at all.
"""
from importlib import import_module

__version__ = "0.1.0"

# The package's public API, in one place: name -> the module that owns it.
_API = {
    "pick_device": "device", "autocast_dtype": "device", "needs_grad_scaler": "device", "in_colab": "device",
    "describe_environment": "device",
    "seed_everything": "seed",
    "run_size": "runsize", "pick": "runsize",
    "download": "data",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")
