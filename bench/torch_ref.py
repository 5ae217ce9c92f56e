#!/usr/bin/python3
"""torch_ref.py - the reference MNIST network trained by PyTorch on the CPU.

The yardstick for iotcnn's training throughput (bench/run.sh). Run it with
Debian's /usr/bin/python3, which has python3-torch (1.13) and numpy; the
python3 first on PATH may be another interpreter without torch.

What is timed: `--warmup` untimed optimizer steps of batch `--batch`, one
more untimed step that asks oneDNN which ISA and kernels it runs (its
verbose mode, read from our own stdout), then `--reps` repetitions of
`--steps` steps each. A step is what the iotcnn trainer does per batch:
take the next shuffled batch of raw uint8 pixels, normalize it
((x/255 - mean)/std), forward, cross-entropy, backward, SGD step. Each
repetition's images/s = steps * batch / its wall time (time.perf_counter,
monotonic); the median of the repetitions counts, min and max give the
spread.

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

Threads, PyTorch at its best: PyTorch 1.13 without MKL defaults its
intra-op pool to std::thread::hardware_concurrency() / 2 on x86-64 (c10's
TaskThreadPoolBase::defaultNumThreads assumes 2-way hyper-threading) unless
OMP_NUM_THREADS or MKL_NUM_THREADS is set; on a 2-CPU machine that is 1
thread. So its thread count is set here explicitly (torch.set_num_threads,
OMP_NUM_THREADS = --threads) and checked. The nn.Linear layers run in
Debian's OpenBLAS, whose own pthread pool ignores torch.set_num_threads:
left to itself (or set to --threads) it runs beside the OpenMP pool, and
the two fight for the cores (measured on the 2-core dev machine, best
format, 3 x 30 steps: 843 img/s with OPENBLAS_NUM_THREADS=2, 1,027 with 1;
the issue that found it reported 1,372 against 2,222 on another machine).
Each child therefore gets OPENBLAS_NUM_THREADS=1, PyTorch's best setting,
before it loads torch; the OpenMP threads run everything else. "cpu_seconds"/"seconds" shows the
threads actually busy. On a CPU shared with other busy processes, libgomp's
spin-waiting threads make 2-thread PyTorch slower than 1 thread (measured:
4x); the environment's OMP_WAIT_POLICY (e.g. passive) is passed on
unchanged.

ISA: oneDNN's own report ("isa:" and the convolution implementations it
ran, e.g. jit:avx512_core or brgconv:avx512_core), ATen's CPU capability
(torch.__config__.show(), for the element-wise kernels) and the OpenBLAS
core that runs nn.Linear (openblas_get_corename).

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


def isa_report(torch, step):
    """Runs step() once with oneDNN's verbose mode on and our stdout (fd 1)
    captured; returns (oneDNN's isa line, the sorted convolution
    implementations it ran)."""
    import tempfile

    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                step()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        lines = tmp.read().splitlines()
    isa, convs = None, set()
    for l in lines:
        f = l.split(",")
        if len(f) > 3 and f[3].startswith("isa:"):
            isa = f[3][4:]
        elif len(f) > 5 and f[1] == "exec" and f[3] == "convolution":
            convs.add(f"{f[4]} {f[5]}")
    return isa, sorted(convs)


def aten_capability(torch):
    for l in torch.__config__.show().splitlines():
        if "CPU capability usage:" in l:
            return l.split(":", 1)[1].strip()
    return None


def openblas_core():
    """The OpenBLAS core name of the library this process loaded, or None."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "openblas" in l and "/" in l})
    except OSError:
        return None
    for p in libs:
        try:
            fn = ctypes.CDLL(p).openblas_get_corename
        except (OSError, AttributeError):
            continue
        fn.restype = ctypes.c_char_p
        return fn().decode()
    return None


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


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
    onednn_isa, onednn_convs = isa_report(torch, step)
    reps, losses = [], []
    for _ in range(args.reps):
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            losses.append(step())
        seconds = time.perf_counter() - t0
        reps.append({"seconds": seconds, "cpu_seconds": time.process_time() - c0,  # all threads
                     "images_per_second": args.steps * B / seconds})
    last = [float(l) for l in losses[-10:]]
    ips = [r["images_per_second"] for r in reps]
    return {
        "format": args.format,
        "threads": threads,
        "openblas_threads": int(os.environ.get("OPENBLAS_NUM_THREADS", "0")),
        "images_per_second": median(ips),
        "images_per_second_min": min(ips),
        "images_per_second_max": max(ips),
        "reps": reps,
        "seconds": sum(r["seconds"] for r in reps),
        "cpu_seconds": sum(r["cpu_seconds"] for r in reps),
        "steps": args.steps,
        "warmup": args.warmup,
        "batch": B,
        "final_loss": sum(last) / len(last),
        "loss_finite": all(math.isfinite(l) for l in last),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch": torch.__version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "onednn_isa": onednn_isa,
        "onednn_convolutions": onednn_convs,
        "aten_capability": aten_capability(torch),
        "openblas_core": openblas_core(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50, help="timed steps per repetition")
    ap.add_argument("--reps", type=int, default=5, help="timed repetitions")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--config", default="configs/mnist_ref.json", help="iotcnn run configuration")
    ap.add_argument("--batch", type=int, default=None, help="default: train.batch_size")
    ap.add_argument("--lr", type=float, default=None, help="default: train.lr")
    ap.add_argument("--mean", type=float, default=None, help="default: data.mean or computed")
    ap.add_argument("--std", type=float, default=None, help="default: data.std or computed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["both", "nchw", "channels_last"], default="both")
    args = ap.parse_args()
    if args.threads < 1 or args.steps < 1 or args.reps < 1 or args.warmup < 0 or (args.batch or 1) < 1:
        ap.error("--threads, --steps, --reps and --batch must be >= 1, --warmup >= 0")

    if args.format != "both":
        # Before torch and numpy load: OpenBLAS (used by numpy and by torch
        # for nn.Linear) has its own thread pool that torch.set_num_threads
        # does not touch; one thread, so that it does not fight the OpenMP
        # pool (torch's kernels, --threads) for the cores.
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
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
        for k in ("data", "config", "threads", "steps", "reps", "warmup", "batch", "lr", "mean", "std", "seed"):
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
        print(f"torch {fmt:13s} {r['threads']} threads (OpenBLAS {r['openblas_threads']}): "
              f"{r['images_per_second']:8.1f} img/s median of {args.reps} "
              f"[{r['images_per_second_min']:.1f}, {r['images_per_second_max']:.1f}], "
              f"cpu/wall {r['cpu_seconds'] / r['seconds']:.2f}, "
              f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB, loss {r['final_loss']:.3f}")
        print(f"      oneDNN {r['onednn_isa']}: {', '.join(r['onednn_convolutions']) or 'no oneDNN convolution'}; "
              f"ATen {r['aten_capability']}; OpenBLAS core {r['openblas_core']}")
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
        "reps": args.reps,
        "best_format": best,
        "images_per_second": results[best]["images_per_second"],
        "images_per_second_min": results[best]["images_per_second_min"],
        "images_per_second_max": results[best]["images_per_second_max"],
        "peak_rss_bytes": results[best]["peak_rss_bytes"],
        "formats": results,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
