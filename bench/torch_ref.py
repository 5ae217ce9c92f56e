#!/usr/bin/python3
"""torch_ref.py - the reference MNIST network trained by PyTorch on the CPU.

The yardstick for iotcnn's training throughput (bench/run.sh). Run it with
Debian's /usr/bin/python3, which has python3-torch (1.13) and numpy; the
python3 first on PATH may be another interpreter without torch.

What is timed: `--steps` optimizer steps of batch `--batch` after
`--warmup` untimed ones. A step is what the iotcnn trainer does per batch:
take the next shuffled batch of raw uint8 pixels, normalize it
((x/255 - mean)/std), forward, cross-entropy, backward, SGD step. Reported
images/s = steps * batch / wall time (time.perf_counter, monotonic).

The network and training setup are read from the iotcnn configuration
(--config, default configs/mnist_ref.json, via bench/refnet.py: plain
sequential conv2d/batchnorm/relu/maxpool/flatten/dropout/dense networks
only):
layers, data.mean/std (computed from the training images when absent, as
iotcnn does), init "he" = kaiming normal fan_in with ReLU gain (or "glorot"
= xavier uniform), biases zero, train.batch_size, train.lr,
train.label_smoothing, SGD momentum/nesterov/weight_decay with the decay on
weights only (as libnn/nn_optim.h does; biases are not decayed). The lr
schedule is not applied: the learning rate does not change the time of a
step. For configs/mnist_ref.json that is
  conv3x3(1->32,pad1)-ReLU-conv3x3(32->32,pad1)-ReLU-maxpool2
  -conv3x3(32->64,pad1)-ReLU-conv3x3(64->64,pad1)-ReLU-maxpool2
  -flatten-dense(3136->256)-ReLU-dropout(0.5)-dense(256->10),
  batch 128, SGD Nesterov 0.9, weight decay 5e-4.

Threads: PyTorch 1.13 without MKL defaults its intra-op pool to
std::thread::hardware_concurrency() / 2 on x86-64 (c10's
TaskThreadPoolBase::defaultNumThreads assumes 2-way hyper-threading) unless
OMP_NUM_THREADS or MKL_NUM_THREADS is set; on a 2-CPU machine that is 1
thread. So the number of threads is always set here explicitly
(torch.set_num_threads) and checked. The nn.Linear layers run in OpenBLAS
(Debian builds torch against the system BLAS), whose own thread pool
ignores torch.set_num_threads and defaults to all CPUs, so each child also
gets OPENBLAS_NUM_THREADS (and OMP_NUM_THREADS) = --threads before it
loads torch; "cpu_seconds"/"seconds" shows the threads actually busy.
On a CPU shared with other busy processes, libgomp's spin-waiting threads
make 2-thread PyTorch slower than 1 thread (measured: 4x); the
environment's OMP_WAIT_POLICY (e.g. passive) is passed on unchanged.

Memory formats: `--format both` (the default) runs NCHW and channels_last
each in a fresh child process (so each has its own peak RSS and neither
warms the other's caches or allocator), reports both and picks the faster.

Output: a line per format on stdout, then one JSON line (the last line).
"""

import argparse
import gzip
import json
import math
import os
import resource
import subprocess
import sys
import time

import refnet  # bench/refnet.py, beside this file

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
}


def read_idx(path):
    """An IDX file (plain, or gzip detected from its first bytes) as a numpy
    uint8 array; checks magic and size."""
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    if len(data) != header + count:
        raise ValueError(f"{path}: {len(data)} bytes, header says {header + count}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def find_file(data_dir, stem):
    for name in (stem, stem + ".gz"):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{data_dir}: neither {stem} nor {stem}.gz (run datasets/fetch.sh mnist)")


def build_model(torch, layers, init):
    """An nn.Sequential from refnet.plan's layer list."""
    nn = torch.nn
    mods = []
    flat = False
    for l in layers:
        t = l["type"]
        if t == "conv2d":
            mods.append(nn.Conv2d(l["cin"], l["cout"], l["k"], stride=l["stride"], padding=l["pad"],
                                  bias=l["bias"]))
        elif t == "batchnorm":
            bn = nn.BatchNorm2d if l["dims"] == 2 else nn.BatchNorm1d
            mods.append(bn(l["c"], eps=l["eps"], momentum=l["momentum"]))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "maxpool":
            mods.append(nn.MaxPool2d(l["k"], stride=l["stride"]))
        elif t == "flatten":
            mods.append(nn.Flatten())
            flat = True
        elif t == "dense":
            if not flat:
                mods.append(nn.Flatten())
                flat = True
            mods.append(nn.Linear(l["nin"], l["nout"], bias=l["bias"]))
        elif t == "dropout":
            mods.append(nn.Dropout(l["rate"]))
    model = nn.Sequential(*mods)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if init == "glorot":
                nn.init.xavier_uniform_(m.weight)
            else:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def settings(args):
    """Training settings from the config, command-line values winning."""
    cfg = refnet.load(args.config)
    in_shape, layers = refnet.plan(cfg, args.config)
    tr = cfg.get("train", {})
    opt = tr.get("optimizer", "sgd")
    if isinstance(opt, str):
        opt = {"type": opt}
    if opt.get("type") != "sgd":
        raise refnet.ConfigError(f"{args.config}: train.optimizer: the benchmark runs SGD only")
    data = cfg.get("data", {})
    mean, std = data.get("mean"), data.get("std")
    return {
        "in_shape": in_shape,
        "layers": layers,
        "init": cfg.get("model", {}).get("init", "he"),
        "batch": args.batch or tr.get("batch_size", 128),
        "lr": args.lr if args.lr is not None else tr.get("lr", 0.01),
        "momentum": opt.get("momentum", 0.0),
        "nesterov": bool(opt.get("nesterov", False)),
        "wd": opt.get("weight_decay", 0.0),
        "label_smoothing": tr.get("label_smoothing", 0.0),
        "mean": args.mean if args.mean is not None else (mean[0] if mean else None),
        "std": args.std if args.std is not None else (std[0] if std else None),
    }


def run_one(args):
    """Trains in this process with one memory format; returns a dict."""
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if threads != args.threads:
        raise RuntimeError(f"torch.set_num_threads({args.threads}) left {threads} threads")
    torch.manual_seed(args.seed)
    st = settings(args)
    if st["in_shape"][0] != 1:
        raise refnet.ConfigError(f"{args.config}: the benchmark reads gray IDX images only")

    images = read_idx(find_file(args.data, FILES["train_images"]))
    labels = read_idx(find_file(args.data, FILES["train_labels"]))
    if images.ndim != 3 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{args.data}: images {images.shape} and labels {labels.shape} disagree")
    if st["mean"] is not None and st["std"] is not None:
        mean, std = st["mean"], st["std"]
    else:  # like the iotcnn trainer without data.mean/std: from the training set
        # exact, from a 256-bin histogram (no float copy of the whole set,
        # which would dominate the peak RSS)
        flat = images.reshape(-1)
        hist = np.zeros(256, dtype=np.float64)
        for i in range(0, flat.size, 1 << 20):  # bincount widens to int64: chunks
            hist += np.bincount(flat[i:i + (1 << 20)], minlength=256)
        v = np.arange(256, dtype=np.float64) / 255.0
        mean = float((hist * v).sum() / hist.sum())
        std = float(np.sqrt((hist * (v - mean) ** 2).sum() / hist.sum()))
    n_img, h, w = images.shape

    cl = args.format == "channels_last"
    fmt = torch.channels_last if cl else torch.contiguous_format
    model = build_model(torch, st["layers"], st["init"]).to(memory_format=fmt)
    model.train()
    decay = [p for n, p in model.named_parameters() if n.endswith("weight")]
    no_decay = [p for n, p in model.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": st["wd"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=st["lr"], momentum=st["momentum"], nesterov=st["nesterov"])
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=st["label_smoothing"])

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(n_img)
    scale = np.float32(1.0 / (255.0 * std))
    shift = np.float32(mean / std)
    B = st["batch"]
    pos = [0]

    def step():
        i = pos[0]
        if i + B > n_img:
            i = 0
        idx = order[i:i + B]
        pos[0] = i + B
        xb = images[idx].astype(np.float32) * scale - shift  # (B,H,W)
        x = torch.from_numpy(xb).view(B, 1, h, w)
        if cl:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels[idx].astype(np.int64))
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    losses = []
    step_times = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        ts = time.perf_counter()
        losses.append(step())
        step_times.append(time.perf_counter() - ts)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0  # all threads: ~threads * seconds
    last = [float(l) for l in losses[-10:]]
    step_times.sort()
    median_step = step_times[len(step_times) // 2]
    return {
        "format": args.format,
        "threads": threads,
        "images_per_second": args.steps * B / seconds,
        "images_per_second_median_step": B / median_step,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "steps": args.steps,
        "warmup": args.warmup,
        "batch": B,
        "final_loss": sum(last) / len(last),
        "loss_finite": all(math.isfinite(l) for l in last),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=60, help="timed steps")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--config", default="configs/mnist_ref.json", help="iotcnn run configuration")
    ap.add_argument("--batch", type=int, default=None, help="default: train.batch_size")
    ap.add_argument("--lr", type=float, default=None, help="default: train.lr")
    ap.add_argument("--mean", type=float, default=None, help="default: data.mean or computed")
    ap.add_argument("--std", type=float, default=None, help="default: data.std or computed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["both", "nchw", "channels_last"], default="both")
    args = ap.parse_args()
    if args.threads < 1 or args.steps < 1 or args.warmup < 0 or (args.batch or 1) < 1:
        ap.error("--threads, --steps and --batch must be >= 1, --warmup >= 0")

    if args.format != "both":
        # Before torch and numpy load: OpenBLAS (used by numpy and by torch
        # for nn.Linear) has its own thread pool that torch.set_num_threads
        # does not touch, and OpenMP (torch's conv kernels) reads this too.
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        r = run_one(args)
        print(json.dumps(r))
        return 0

    # What PyTorch would use if not told (1 on a 2-CPU x86-64 machine; see
    # the top of this file), in this environment; the children are told.
    import torch
    default_threads = torch.get_num_threads()
    try:  # check the config here, once, with a plain message
        st = settings(args)
    except refnet.ConfigError as e:
        print(f"torch_ref: {e}", file=sys.stderr)
        return 1
    results = {}
    for fmt in ("nchw", "channels_last"):
        cmd = [sys.executable, os.path.abspath(__file__), "--format", fmt]
        for k in ("data", "config", "threads", "steps", "warmup", "batch", "lr", "mean", "std", "seed"):
            v = getattr(args, k)
            if v is not None:
                cmd += ["--" + k, str(v)]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            print(f"torch_ref: the {fmt} run failed (exit {p.returncode})", file=sys.stderr)
            return 1
        r = json.loads(lines[-1])
        results[fmt] = r
        print(f"torch {fmt:13s} {r['threads']} threads: {r['images_per_second']:8.1f} img/s "
              f"(median step {r['images_per_second_median_step']:.1f}, "
              f"cpu/wall {r['cpu_seconds'] / r['seconds']:.2f}), "
              f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB, loss {r['final_loss']:.3f}")
        if not r["loss_finite"]:
            print(f"torch_ref: warning: the {fmt} run's loss is not finite (lr {st['lr']} diverged);"
                  " its time is still measured", file=sys.stderr)
    best = max(results, key=lambda f: results[f]["images_per_second"])
    out = {
        "bench": "torch_ref",
        "torch": results[best]["torch"],
        "threads": args.threads,
        "default_threads": default_threads,
        "batch": st["batch"],
        "config": args.config,
        "steps": args.steps,
        "best_format": best,
        "images_per_second": results[best]["images_per_second"],
        "peak_rss_bytes": results[best]["peak_rss_bytes"],
        "formats": results,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
