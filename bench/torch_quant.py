#!/usr/bin/python3
"""torch_quant.py - PyTorch's quantized (int8) CPU inference of a config's
network, one thread, batch 1 and batch B: the yardstick for iotcnn's int8
engine in `make bench` (bench/run.sh, step 6). Run it with Debian's
/usr/bin/python3 (python3-torch 1.13); the python3 first on PATH may be
another interpreter without torch.

The network: the iotcnn configuration's layers (--config, default
configs/mnist.json, via bench/refnet.py and bench/torch_ref.py's
build_model: conv2d, batchnorm, relu, maxpool, flatten, dropout, dense),
in eval mode. Its weights are PyTorch's own initialization (the config's
He/Glorot init, batch norm at its defaults), not the trained iotcnn model:
inference time does not depend on the values.

Int8: eager-mode static quantization (torch.ao.quantization): QuantStub /
DeQuantStub around the network, conv+batchnorm+relu, conv+batchnorm,
conv+relu and linear+relu fused (fuse_modules), the backend's default
qconfig (get_default_qconfig: histogram observer for activations,
per-channel symmetric int8 weights), calibrated on --calib real training
images (normalized with the config's data.mean/std), converted. The
quantized backend (--qengine, default: the first of x86, fbgemm, onednn
that this build supports; Debian's 1.13 has onednn and qnnpack only). On a
CPU with AMX, oneDNN runs int8 convs on AMX tiles; iotcnn's engine does
not use AMX, so when /proc/cpuinfo lists amx_int8 the int8 part is also
run in a second process with ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI (the
instruction set iotcnn's engine uses), reported as "int8_no_amx".

Float (for context): the same network in eval mode, not quantized.

What is timed: model(x) on the first B real test images, already
normalized to a float tensor (the normalization and the conversion from
uint8 are outside the timed call; iotcnn's timings include its own), under
torch.inference_mode(), each model both as the eager nn.Module ("eager")
and as TorchScript (torch.jit.trace + torch.jit.freeze, "script"); the
faster of the two counts. Timing rule as bench/bench_util.h: one warm-up
call per case, then --reps rounds that time one repetition of every case
in turn (calls back to back for >= --min-ms, time.perf_counter, i.e.
CLOCK_MONOTONIC); the best repetition counts, the median is reported too,
and the process's CPU time over the wall time of the best repetition
(about 1 when it had a CPU to itself).

Threads: OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS = 1 are
set before torch loads, then torch.set_num_threads(1) (checked).

Output: a line per case on stdout, then one JSON line (the last line).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import refnet     # bench/refnet.py, beside this file
import torch_ref  # bench/torch_ref.py: build_model, read_idx, find_file


def cpu_has_amx():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "amx_int8" in line.split()
    except OSError:
        pass
    return False


def fusion_groups(torch, seq):
    """Names of the runs of modules in an nn.Sequential that eager-mode
    quantization fuses: conv-bn-relu, conv-bn, conv-relu, linear-relu."""
    nn = torch.nn
    mods = list(seq.named_children())
    groups, i = [], 0
    while i < len(mods):
        m = mods[i][1]
        nxt = [type(x[1]) for x in mods[i + 1:i + 3]]
        if isinstance(m, nn.Conv2d) and nxt[:2] == [nn.BatchNorm2d, nn.ReLU]:
            n = 3
        elif isinstance(m, nn.Conv2d) and nxt[:1] in ([nn.BatchNorm2d], [nn.ReLU]):
            n = 2
        elif isinstance(m, nn.Linear) and nxt[:1] == [nn.ReLU]:
            n = 2
        else:
            n = 1
        if n > 1:
            groups.append([mods[j][0] for j in range(i, i + n)])
        i += n
    return groups


def time_cases(cases, reps, min_s):
    """cases: list of (name, fn). Returns {name: (best_s, median_s, cpu_s)}
    with cpu_s the process's CPU seconds per call in the best repetition."""
    for _, fn in cases:
        fn()
    secs = {name: [] for name, _ in cases}
    for _ in range(reps):
        for name, fn in cases:
            calls, t0, c0 = 0, time.perf_counter(), time.process_time()
            while True:
                fn()
                calls += 1
                el = time.perf_counter() - t0
                if el >= min_s:
                    break
            secs[name].append((el / calls, (time.process_time() - c0) / calls))
    out = {}
    for name, s in secs.items():
        s = sorted(s)
        w = [x[0] for x in s]
        med = w[len(w) // 2] if len(w) % 2 else 0.5 * (w[len(w) // 2 - 1] + w[len(w) // 2])
        out[name] = (s[0][0], med, s[0][1])
    return out


def run_child(args):
    """Builds, quantizes and times in this process (one thread)."""
    import numpy as np
    import torch
    import torch.ao.quantization as tq

    torch.set_num_threads(1)
    if torch.get_num_threads() != 1:
        raise RuntimeError(f"torch.set_num_threads(1) left {torch.get_num_threads()} threads")
    torch.manual_seed(args.seed)
    cfg = refnet.load(args.config)
    (c, h, w), layers = refnet.plan(cfg, args.config)
    data = cfg.get("data", {})
    if not data.get("mean") or not data.get("std") or c != 1:
        raise refnet.ConfigError(f"{args.config}: the benchmark needs gray images and "
                                 "data.mean/std in the config")
    mean, std = float(data["mean"][0]), float(data["std"][0])

    def load(split, n):
        stem = "train" if split == "train" else "t10k"
        imgs = torch_ref.read_idx(torch_ref.find_file(args.data, f"{stem}-images-idx3-ubyte"))[:n]
        x = (imgs.astype(np.float32) / 255.0 - mean) / std
        return torch.from_numpy(np.ascontiguousarray(x)).view(-1, 1, h, w)

    B = args.batch
    test = load("test", B)
    if test.shape[0] < B:
        test = test.repeat((B + test.shape[0] - 1) // test.shape[0], 1, 1, 1)[:B]
    inputs = {1: test[:1].contiguous(), B: test}

    body = torch_ref.build_model(torch, layers, cfg.get("model", {}).get("init", "he")).eval()
    models = {}
    if "float" in args.parts:
        models["float"] = body
    if "int8" in args.parts:
        torch.backends.quantized.engine = args.qengine
        qbody = torch_ref.build_model(torch, layers, cfg.get("model", {}).get("init", "he")).eval()
        groups = fusion_groups(torch, qbody)
        tq.fuse_modules(qbody, groups, inplace=True)
        qm = torch.nn.Sequential(tq.QuantStub(), qbody, tq.DeQuantStub()).eval()
        qm.qconfig = tq.get_default_qconfig(args.qengine)
        tq.prepare(qm, inplace=True)
        calib = load("train", args.calib)
        with torch.inference_mode():
            for i in range(0, calib.shape[0], 128):
                qm(calib[i:i + 128])
        tq.convert(qm, inplace=True)
        models["int8"] = qm

    cases = []
    with torch.inference_mode():
        for kind, m in models.items():
            for b, x in inputs.items():
                cases.append(((kind, "eager", b), (lambda m=m, x=x: m(x))))
                sm = torch.jit.freeze(torch.jit.trace(m, x))
                cases.append(((kind, "script", b), (lambda m=sm, x=x: m(x))))
        res = time_cases(cases, args.reps, args.min_ms / 1000.0)
    out = {"torch": torch.__version__, "qengine": args.qengine, "threads": torch.get_num_threads(),
           "fused": groups if "int8" in args.parts else [], "results": []}
    for (kind, mode, b), (best, med, cpu) in res.items():
        out["results"].append({"model": kind, "mode": mode, "batch": b, "ms": best * 1e3,
                               "ms_median": med * 1e3, "cpu_ms": cpu * 1e3,
                               "images_per_second": b / best})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="configs/mnist.json")
    ap.add_argument("--data", default="data/mnist", help="folder with the MNIST IDX files")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-ms", type=float, default=100.0)
    ap.add_argument("--calib", type=int, default=512, help="calibration images (training split)")
    ap.add_argument("--qengine", default=None, help="quantized backend (default: x86, fbgemm "
                    "or onednn, the first this build has)")
    ap.add_argument("--no-amx-run", choices=["auto", "yes", "no"], default="auto",
                    help="also run int8 with ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI (auto: when "
                    "the CPU has AMX)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "float,int8" or "int8"
    args = ap.parse_args()
    if args.batch < 1 or args.reps < 1 or args.min_ms <= 0 or args.calib < 1:
        ap.error("--batch, --reps, --calib must be >= 1 and --min-ms > 0")

    if args.child:
        # before torch, numpy, OpenBLAS and OpenMP load
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[k] = "1"
        args.parts = args.child.split(",")
        print(json.dumps(run_child(args)))
        return 0

    import torch
    engines = torch.backends.quantized.supported_engines
    if args.qengine is None:
        args.qengine = next((e for e in ("x86", "fbgemm", "onednn") if e in engines), None)
        if args.qengine is None:
            print(f"torch_quant: this PyTorch has no x86 quantized backend ({engines})",
                  file=sys.stderr)
            return 1
    elif args.qengine not in engines:
        print(f"torch_quant: --qengine {args.qengine}: this PyTorch has {engines}", file=sys.stderr)
        return 1
    try:  # check the config here, once, with a plain message
        refnet.plan(refnet.load(args.config), args.config)
    except refnet.ConfigError as e:
        print(f"torch_quant: {e}", file=sys.stderr)
        return 1
    amx = cpu_has_amx()
    runs = [("default", "float,int8", {})]
    if args.no_amx_run == "yes" or (args.no_amx_run == "auto" and amx):
        runs.append(("no_amx", "int8", {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_VNNI"}))

    rows = {}
    meta = None
    for tag, parts, env in runs:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", parts]
        for k in ("config", "data", "batch", "reps", "min_ms", "calib", "qengine", "seed"):
            cmd += ["--" + k.replace("_", "-"), str(getattr(args, k))]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
        lines = p.stdout.strip().splitlines()
        if p.returncode != 0 or not lines:
            print(f"torch_quant: the {tag} run failed (exit {p.returncode})", file=sys.stderr)
            return 1
        r = json.loads(lines[-1])
        meta = meta or r
        for row in r["results"]:
            name = row["model"] if tag == "default" else f"{row['model']}_{tag}"
            rows.setdefault(name, {})[(row["mode"], row["batch"])] = row
            print(f"torch {name:12s} {row['mode']:6s} batch {row['batch']:4d}: "
                  f"{row['ms']:9.3f} ms (median {row['ms_median']:9.3f}, "
                  f"cpu/wall {row['cpu_ms'] / row['ms']:4.2f}) {row['images_per_second']:10.0f} img/s")

    def best(name, b):
        cands = [rows[name][(m, b)] for m in ("eager", "script") if (m, b) in rows.get(name, {})]
        return max(cands, key=lambda r: r["images_per_second"]) if cands else None

    summary = {}
    for name in rows:
        r1, rb = best(name, 1), best(name, args.batch)
        summary[name] = {"images_per_second": [r1["images_per_second"], rb["images_per_second"]],
                         "ms": [r1["ms"], rb["ms"]], "mode": [r1["mode"], rb["mode"]]}
    print("torch_quant: weights are PyTorch's own init (untrained); inference speed does not "
          "depend on the values")
    out = {
        "bench": "torch_quant",
        "torch": meta["torch"],
        "qengine": args.qengine,
        "supported_engines": engines,
        "threads": meta["threads"],
        "config": args.config,
        "batch": args.batch,
        "reps": args.reps,
        "min_ms": args.min_ms,
        "stat": "best",
        "calibration_images": args.calib,
        "fused": meta["fused"],
        "cpu_amx": amx,
        "weights": "pytorch_init",
        "summary": summary,  # per model: the faster of eager and script, [batch 1, batch B]
        "results": [row for name in rows for row in
                    ({**v, "model": name} for v in rows[name].values())],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
