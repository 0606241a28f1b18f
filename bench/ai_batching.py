"""Batched inference throughput: images/s at batch 1 versus 8 and 32, preprocessing timed apart.

Run from the repository root (CPU, the `test` or `ai` extra)::

    .venv/bin/python -m bench.ai_batching                       # 128x128 input, 3 conv layers of 16
    .venv/bin/python -m bench.ai_batching --size 224 --images 256 --threads 0

On a GPU machine (onnxruntime-gpu; the CUDA provider must be reported in the output)::

    pip install -e ".[gpu,test]"
    python -m bench.ai_batching --provider cuda --size 224 --hidden 32 --layers 4 --images 1024

The model is built with the `onnx` package (tests/support/onnx_models.py: convolutions, global
pooling, a linear layer and softmax), saved into a temporary registry folder and loaded through
axiom.ai.registry, as the gpu worker loads it. Preprocessing (modality LUT, window, resize of a
512x512 CT from tests/factories.py) is timed per image on its own; inference runs on already
preprocessed inputs so the two figures do not mix. The issue's targets: batch 8/32 >= 3x batch 1
on CPU; on a GPU, batch 32 >= 20x the CPU path.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from axiom.ai.batching import MicroBatcher
from axiom.ai.onnx_runtime import OnnxModel
from axiom.ai.preprocess import preprocess
from axiom.ai.registry import ModelRegistry
from tests.factories import LARGE, make_dataset
from tests.support.onnx_models import write_model

PROVIDERS = {
    "auto": None,
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _throughput(model: OnnxModel, inputs: np.ndarray, batch: int, rounds: int) -> float:
    """Best-of-rounds images/s running ``inputs`` through the model ``batch`` at a time."""
    for start in range(0, min(len(inputs), batch * 2), batch):  # warm-up: allocations, kernels
        model.predict(inputs[start : start + batch])
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for start in range(0, len(inputs), batch):
            model.predict(inputs[start : start + batch])
        best = max(best, len(inputs) / (time.perf_counter() - started))
    return best


def _through_batcher(model: OnnxModel, inputs: np.ndarray, batch: int, threads: int) -> tuple[float, float]:
    """images/s and mean batch size when ``threads`` callers submit one image at a time, as the gpu
    worker's task threads do, through a MicroBatcher of ``batch``."""
    batcher = MicroBatcher(model.findings, max_batch=batch, max_wait_ms=5)
    batcher.submit(inputs[0]).result()
    batcher.batch_sizes.clear()
    per_thread = len(inputs) // threads

    def work(offset: int) -> None:
        for i in range(per_thread):
            batcher.submit(inputs[offset + i]).result()

    workers = [threading.Thread(target=work, args=(t * per_thread,)) for t in range(threads)]
    started = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    rate = per_thread * threads / (time.perf_counter() - started)
    return rate, statistics.mean(batcher.batch_sizes)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=128, help="model input rows = columns")
    parser.add_argument("--hidden", type=int, default=16, help="channels of each conv layer")
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument(
        "--pyramid",
        action="store_true",
        help="stride-2 layers doubling the channels (ResNet-like stages) instead of full resolution",
    )
    parser.add_argument("--images", type=int, default=128, help="images per timed round")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--provider", choices=sorted(PROVIDERS), default="auto")
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime intra-op threads (0: its default)"
    )
    parser.add_argument(
        "--batcher-threads", type=int, default=32, help="also run through the MicroBatcher (0: skip)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_model(
            root, "bench", "1", size=args.size, hidden=args.hidden, layers=args.layers, pyramid=args.pyramid
        )
        registry = ModelRegistry(root)
        manifest = registry.manifest("bench")
        if args.threads:
            os.environ["OMP_NUM_THREADS"] = str(args.threads)
        model = OnnxModel(manifest, root / "bench" / "1", providers=PROVIDERS[args.provider])
        wanted = (PROVIDERS[args.provider] or [model.provider])[0]
        if model.provider != wanted:
            # onnxruntime falls back to CPU silently; a CPU figure must not pass for a GPU one.
            raise SystemExit(f"asked for {wanted}, onnxruntime runs the model on {model.provider}")

        datasets = [make_dataset(modality="CT", rows=LARGE, columns=LARGE, variant=i) for i in range(8)]
        timings = []
        prepared = []
        for i in range(args.images):
            ds = datasets[i % len(datasets)]
            started = time.perf_counter()
            prepared.append(preprocess(ds, manifest))
            timings.append((time.perf_counter() - started) * 1000)
        inputs = np.stack(prepared)

        print(f"cpu: {_cpu_name()} ({os.cpu_count()} logical cores visible)")
        print(
            f"provider: {model.provider}; model: {args.size}x{args.size}, {args.layers} conv x {args.hidden}"
            + (" (pyramid: stride 2, channels doubling)" if args.pyramid else "")
        )
        print(
            f"preprocess ({LARGE}x{LARGE} CT -> {args.size}x{args.size}): median {statistics.median(timings):.2f} ms/image"
        )
        base = 0.0
        for batch in (int(b) for b in args.batches.split(",")):
            rate = _throughput(model, inputs, batch, args.rounds)
            base = base or rate
            print(
                f"batch {batch:>3}: {rate:8.1f} images/s  ({rate / base:.2f}x batch {args.batches.split(',')[0]})"
            )
        if args.batcher_threads:
            top = max(int(b) for b in args.batches.split(","))
            rate, mean = _through_batcher(model, inputs, top, args.batcher_threads)
            print(
                f"through MicroBatcher (max {top}, {args.batcher_threads} submitting threads): "
                f"{rate:8.1f} images/s, mean batch {mean:.1f}"
            )


if __name__ == "__main__":
    main()
