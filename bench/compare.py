#!/usr/bin/python3
"""compare.py - the summary of `make bench` (called by bench/run.sh).

Reads the JSON lines the measurements printed in this run (training:
fma_peak, sgemm_peak, the iotcnn trainer and its metrics log, torch_ref.py; deployment: deploy_bench and
torch_quant.py, summarized by bench/deploy_compare.py), prints the
comparison tables and, as the last stdout line, one JSON object with
everything. A missing or failed part is null in the JSON and named in
"errors"; a part left out with --parts is null without an error. Standard
library only.

FLOPs per training image are counted analytically from the configuration's
layers by bench/refnet.py (train_flops_per_image): conv and dense MACs x2
for the forward pass, x2 for weight gradients, x2 for input gradients except
for the first conv/dense layer (its input is the image), i.e.
6*sum(MACs) - 2*MACs(first); elementwise work (ReLU, pooling, dropout, loss,
biases, the optimizer update) is not counted. Reference MNIST network:
114.1 MFLOP per image.

Training speed is the median of the timed repetitions on each side (iotcnn:
the epochs after the first, from its metrics log; PyTorch: torch_ref.py's
repetitions of its faster memory format), printed with min and max; the
ratio is the ratio of the medians. Each side's GFLOP/s is also given as a
share of the machine's FMA peak measured in the same run (fma_peak, at the
benchmark's thread count).
"""

import argparse
import json
import sys

import deploy_compare  # bench/deploy_compare.py, beside this file
import refnet  # bench/refnet.py, beside this file


# One reader of the parts' JSON lines for both halves of the summary.
last_json = deploy_compare.last_json


def number(obj, key, name, errors):
    v = obj.get(key) if obj else None
    if obj is not None and (not isinstance(v, (int, float)) or isinstance(v, bool)):
        errors.append(f"{name}: JSON has no number \"{key}\"")
        return None
    return v


# Training targets (the iotcnn trainer against PyTorch at its best, and
# against the machine's FMA peak); a ratio below its target is marked, not
# an error.
TARGET_RATIO = 1.3
TARGET_FMA_SHARE = 0.6


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def iotcnn_reps(path, errors):
    """images/s of each timed epoch (all but the first) of the iotcnn
    trainer's metrics log, from its seconds and the batches it ran; [] (and
    a message) when there are none."""
    try:
        with open(path) as f:
            rows = [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        errors.append(f"iotcnn: no readable metrics log {path} ({e})")
        return []
    out = []
    prev_step = 0
    for r in rows:
        steps = r.get("step", 0) - prev_step
        prev_step = r.get("step", 0)
        if r.get("epoch", 1) > 1 and r.get("seconds", 0) > 0:
            out.append((r["seconds"], steps))
    if not out:
        errors.append("iotcnn: its metrics log has no timed epoch (one warm-up epoch, then at "
                      "least one more is needed)")
    return out


def main():
    ap = argparse.ArgumentParser(description="summary of make bench")
    ap.add_argument("--fma", required=True, help="fma_peak's stdout")
    ap.add_argument("--sgemm", required=True, help="sgemm_peak's stdout")
    ap.add_argument("--iotcnn", required=True, help="the iotcnn trainer's stdout")
    ap.add_argument("--iotcnn-metrics", required=True, help="the iotcnn trainer's metrics log")
    ap.add_argument("--torch", required=True, help="torch_ref.py's stdout")
    ap.add_argument("--time-rss", default="", help="/usr/bin/time -f %%M output for iotcnn")
    ap.add_argument("--loadavg", default="?")
    ap.add_argument("--config", default="configs/mnist_ref.json")
    ap.add_argument("--failed", action="append", default=[], metavar="STAGE: WHY",
                    help="a stage run.sh already found failed (sgemm_peak, iotcnn, torch, "
                    "deploy_*, torch_quant)")
    ap.add_argument("--parts", default="train,deploy", help="the parts that ran")
    ap.add_argument("--deploy", default="", help="deploy_bench's stdout")
    ap.add_argument("--torch-quant", default="", help="torch_quant.py's stdout")
    ap.add_argument("--deploy-config", default="configs/mnist.json")
    ap.add_argument("--deploy-loadavg", default="?")
    ap.add_argument("--max-isa", default="", help="BENCH_MAX_ISA: both trainers held to it")
    a = ap.parse_args()
    errors = list(a.failed)
    failed = {e.split(":")[0] for e in errors}
    loadavg = a.loadavg
    parts = set(a.parts.split(","))
    train = "train" in parts

    fma = None if "fma_peak" in failed or not train else last_json(a.fma, "fma_peak", errors)
    sg = None if "sgemm_peak" in failed or not train else last_json(a.sgemm, "sgemm_peak", errors)
    iot = None if "iotcnn" in failed or not train else last_json(a.iotcnn, "iotcnn", errors)
    tr = None if "torch" in failed or not train else last_json(a.torch, "torch", errors)

    peak1 = number(sg, "peak_gflops_1t", "sgemm_peak", errors)
    peak2 = number(sg, "peak_gflops_2t", "sgemm_peak", errors)
    mix2 = number(sg, "netmix_gflops_2t", "sgemm_peak", errors)
    fma_peak = number(fma, "peak_gflops", "fma_peak", errors)
    # The peak of T cores is at least T times one core's: when the all-threads
    # measurement came out below that (another process took a core meanwhile),
    # the shares are taken against T x the 1-thread peak, the larger, so that
    # a disturbed measurement never flatters either side.
    fma_threads = fma.get("threads", 1) if fma else 1
    f1 = fma.get(fma.get("peak_isa") or "", {}).get("gflops_1") if fma else None
    fma_peak_measured = fma_peak
    if f1 and fma_peak and fma_threads > 1 and f1 * fma_threads > fma_peak:
        fma_peak = f1 * fma_threads
    iot_batch = None
    iot_ips = iot_min = iot_max = None
    if iot:
        try:
            with open(a.config) as f:
                iot_batch = json.load(f).get("train", {}).get("batch_size", 128)
        except (OSError, ValueError) as e:
            errors.append(f"iotcnn: cannot read the batch size from {a.config} ({e})")
        reps = iotcnn_reps(a.iotcnn_metrics, errors)
        ips = [steps * iot_batch / sec for sec, steps in reps] if iot_batch else []
        if ips:
            iot_ips, iot_min, iot_max = median(ips), min(ips), max(ips)
    iot_rss = number(iot, "peak_rss_bytes", "iotcnn", errors)
    iot_acc = number(iot, "test_accuracy", "iotcnn", errors)
    iot_sec = number(iot, "seconds", "iotcnn", errors)
    tr_ips = number(tr, "images_per_second", "torch", errors)
    tr_min = tr.get("images_per_second_min") if tr else None
    tr_max = tr.get("images_per_second_max") if tr else None
    tr_rss = number(tr, "peak_rss_bytes", "torch", errors)

    # /usr/bin/time -f '%M %e %U %S' on iotcnn: peak RSS KiB (a cross-check
    # of its own report), wall, user, system seconds of the whole process
    time_rss = iot_cpu = None
    try:
        with open(a.time_rss) as f:
            last = f.read().splitlines()[-1].split()
        time_rss = int(last[0]) * 1024
        if len(last) == 4 and float(last[1]) > 0:
            iot_cpu = (float(last[2]) + float(last[3])) / float(last[1])
    except (OSError, IndexError, ValueError):
        pass

    fpi = None
    try:
        if train:
            fpi = refnet.train_flops_per_image(refnet.plan(refnet.load(a.config), a.config)[1])
    except refnet.ConfigError as e:
        errors.append(f"flops: {e}")
    iot_gf = iot_ips * fpi * 1e-9 if iot_ips and fpi else None
    tr_gf = tr_ips * fpi * 1e-9 if tr_ips and fpi else None
    ratio = iot_ips / tr_ips if iot_ips and tr_ips else None
    share = iot_gf / peak2 if iot_gf and peak2 else None
    share_mix = iot_gf / mix2 if iot_gf and mix2 else None
    tr_share = tr_gf / peak2 if tr_gf and peak2 else None
    fshare = iot_gf / fma_peak if iot_gf and fma_peak else None
    tr_fshare = tr_gf / fma_peak if tr_gf and fma_peak else None

    def fmt(v, f, unit=""):
        return "-" if v is None else format(v, f) + unit

    def mib(v):
        return "-" if v is None else f"{v / 2**20:.0f} MiB"

    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"

    threads = tr.get("threads") if tr else None
    best = tr.get("best_format") if tr else None
    formats = tr.get("formats", {}) if tr else {}
    tr_cpu = None  # CPU time / wall time of PyTorch's timed steps
    if best in formats and formats[best].get("seconds"):
        tr_cpu = formats[best].get("cpu_seconds", 0) / formats[best]["seconds"]
    busy = tr_cpu is not None and threads and tr_cpu < 0.75 * threads
    if train:
        print()
        print(f"== iotcnn vs PyTorch {tr.get('torch', '') if tr else ''}: reference MNIST CNN, "
              f"batch 128, {threads or '?'} threads (load average at start: {loadavg}) ==")
        print(f"{'':34s} {'iotcnn':>14s} {'PyTorch':>14s}")
        def spread(lo, hi):
            return "-" if lo is None or hi is None else f"{lo:.0f}-{hi:.0f}"

        print(f"{'training images/s, median':34s} {fmt(iot_ips, '.1f'):>14s} {fmt(tr_ips, '.1f'):>14s}"
              + (f"  (PyTorch best format: {best})" if best else ""))
        print(f"{'  min-max of the repetitions':34s} {spread(iot_min, iot_max):>14s} "
              f"{spread(tr_min, tr_max):>14s}")
        for f in ("nchw", "channels_last"):
            if f in formats:
                print(f"{'  PyTorch ' + f:34s} {'':>14s} {formats[f]['images_per_second']:14.1f}")
        def mark(v, target):
            return "" if v is None else ("  PASS" if v >= target else "  BELOW TARGET") + f" (target >= {target:g})"

        print(f"{'ratio iotcnn / PyTorch (medians)':34s} {fmt(ratio, '.3f'):>14s}{mark(ratio, TARGET_RATIO)}")
        print(f"{'GFLOP/s (%s MFLOP per image)' % fmt(fpi and fpi / 1e6, '.1f'):34s} {fmt(iot_gf, '.1f'):>14s} "
              f"{fmt(tr_gf, '.1f'):>14s}")
        print(f"{'share of the FMA peak':34s} {pct(fshare):>14s} {pct(tr_fshare):>14s}"
              f"{mark(fshare, TARGET_FMA_SHARE)}  (peak {fmt(fma_peak, '.1f')} GFLOP/s, {fma.get('peak_isa') if fma else '?'}, "
              f"{fma.get('threads') if fma else '?'} threads)")
        if fma_peak != fma_peak_measured:
            print(f"{'':34s} (peak: {fma_threads} x the 1-thread {fmt(f1, '.1f')}, above the {fma_threads}-thread "
                  f"measurement, {fmt(fma_peak_measured, '.1f')})")
        print(f"{'':34s} (GFLOP/s count the direct convolutions' multiply-adds; iotcnn runs the 3x3 "
              "layers as Winograd F(4x4, 3x3), fewer of them: an effective rate)")
        print(f"{'share of 2-thread sgemm peak':34s} {pct(share):>14s} {pct(tr_share):>14s}"
              f"  (peak {fmt(peak2, '.1f')} GFLOP/s; 1 thread {fmt(peak1, '.1f')})")
        print(f"{'share of per-image GEMM mix, 2t':34s} {pct(share_mix):>14s} "
              f"{pct(tr_gf / mix2 if tr_gf and mix2 else None):>14s}  (mix {fmt(mix2, '.1f')} GFLOP/s)")
        print(f"{'peak RSS':34s} {mib(iot_rss):>14s} {mib(tr_rss):>14s}"
              + (f"  (/usr/bin/time: iotcnn {mib(time_rss)})" if time_rss and iot else ""))
        print(f"{'CPU time / wall time':34s} {fmt(iot_cpu if iot else None, '.2f'):>14s} "
              f"{fmt(tr_cpu, '.2f'):>14s}  (iotcnn: whole process incl. loading and test)")
        trf = formats.get(best, {})
        print(f"  ISA, iotcnn: convolutions in its own kernels ({sg.get('conv_isa') if sg else '?'}, "
              f"chosen at run time), dense layers in OpenBLAS core "
              f"{sg.get('openblas_core') if sg else '?'}, its other loops built for "
              f"{sg.get('build_isa') if sg else '?'}")
        print(f"  ISA, PyTorch: convolutions in oneDNN ({trf.get('onednn_isa', '?')}: "
              f"{', '.join(trf.get('onednn_convolutions', [])) or '?'}), element-wise ATen "
              f"{trf.get('aten_capability', '?')}, nn.Linear in OpenBLAS core {trf.get('openblas_core', '?')} "
              f"({trf.get('openblas_threads', '?')} thread)")
        print(f"{'iotcnn test accuracy, total s':34s} "
              f"{(fmt(iot_acc, '.4f') + ', ' + fmt(iot_sec, '.1f') + ' s') if iot else '-':>14s}")
    dep = {}
    if "deploy" in parts:
        dep = deploy_compare.summarize(a.deploy, a.torch_quant, errors, failed, a.deploy_config,
                                       a.deploy_loadavg)
    for e in errors:
        print(f"  ! {e}")
    warnings = list(dep.pop("deploy_warnings", []))
    if busy:
        warnings.append(f"PyTorch kept only {tr_cpu:.2f} CPUs busy with {threads} threads: the machine "
                        "was busy and its number is not representative (libgomp's spinning "
                        "threads collapse on a shared CPU); rerun when idle, or with "
                        "OMP_WAIT_POLICY=passive to see PyTorch's best case on a busy machine")
    if f1 and fma_peak_measured and fma_threads > 1 and fma_peak_measured < 1.5 * f1:
        warnings.append(f"the FMA peak with {fma_threads} threads ({fma_peak_measured:.0f} GFLOP/s) is "
                        f"not clearly above 1 thread ({f1:.0f}): the other CPUs were busy; the shares "
                        f"use {fma_threads} x the 1-thread peak, {fma_peak:.0f} GFLOP/s")
    if peak1 and peak2 and peak2 < 1.5 * peak1:
        warnings.append(f"sgemm with 2 threads ({peak2:.0f} GFLOP/s) is not clearly above 1 thread "
                        f"({peak1:.0f}): the other CPU was busy, so the shares of the peak are off")
    for f, r in formats.items():
        if r.get("loss_finite") is False:
            warnings.append(f"PyTorch {f}: the loss became non-finite (the config's lr diverges in "
                            "PyTorch); the step time is still measured")
    for w in warnings:
        print(f"  ! warning: {w}")

    out = {
        "bench": "iotcnn_vs_torch",
        "threads": threads,
        "loadavg": loadavg,
        "train_flops_per_image": fpi,
        "fma_peak_gflops": fma_peak,
        "fma_peak_gflops_all_threads_measured": fma_peak_measured,
        "fma_peak_isa": fma.get("peak_isa") if fma else None,
        "max_isa": a.max_isa or None,
        "sgemm_peak_gflops_1t": peak1,
        "sgemm_peak_gflops_2t": peak2,
        "sgemm_netmix_gflops_2t": mix2,
        "iotcnn_images_per_second": iot_ips,
        "iotcnn_images_per_second_min": iot_min,
        "iotcnn_images_per_second_max": iot_max,
        "iotcnn_share_of_fma_peak": fshare,
        "iotcnn_openblas_core": sg.get("openblas_core") if sg else None,
        "iotcnn_build_isa": sg.get("build_isa") if sg else None,
        "iotcnn_conv_isa": sg.get("conv_isa") if sg else None,
        "iotcnn_gflops": iot_gf,
        "iotcnn_share_of_sgemm_peak_2t": share,
        "iotcnn_peak_rss_bytes": iot_rss,
        "iotcnn_peak_rss_bytes_time": time_rss if iot else None,
        "iotcnn_cpu_over_wall": iot_cpu if iot else None,
        "iotcnn_test_accuracy": iot_acc,
        "iotcnn_seconds": iot_sec,
        "torch_images_per_second": tr_ips,
        "torch_images_per_second_min": tr_min,
        "torch_images_per_second_max": tr_max,
        "torch_share_of_fma_peak": tr_fshare,
        "torch_onednn_isa": formats.get(best, {}).get("onednn_isa"),
        "torch_best_format": best,
        "torch_images_per_second_nchw": formats.get("nchw", {}).get("images_per_second"),
        "torch_images_per_second_channels_last": formats.get("channels_last", {}).get("images_per_second"),
        "torch_gflops": tr_gf,
        "torch_peak_rss_bytes": tr_rss,
        "torch_cpu_over_wall": tr_cpu,
        "ratio_iotcnn_over_torch": ratio,
        **dep,
        "errors": errors,
        "warnings": warnings,
    }
    print(json.dumps(out))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
