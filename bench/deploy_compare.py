"""deploy_compare.py - the deployment part of `make bench`'s summary (called
by bench/compare.py). Standard library only.

Reads the JSON lines of bench/deploy_bench.c (iotcnn's float and int8
engines on the models "full" and "pruned", one thread, batch 1 and N) and
bench/torch_quant.py (PyTorch int8 and float, one thread), prints the
deployment table and returns the numbers for the final JSON line. A
missing part leaves its numbers None and says why in errors.

Ratios are of images/s, each at batch 1 and at batch N, every engine's
best repetition; the int8 numbers are the ISA the runtime picks on this CPU
(RT_ISA_AUTO):
  int8 / float               full model, target >= 3x
  pruned / unpruned          float engine and int8 engine, target >= 1.3x
  iotcnn int8 / PyTorch int8 full model (PyTorch's own weights), no target;
                             also against PyTorch int8 without AMX when the
                             CPU has it (the ISA iotcnn's engine uses)
"""

import json

TARGET_INT8 = 3.0
TARGET_PRUNED = 1.3


def last_json(path, name, errors):
    """The last line of a file parsed as a JSON object, or None (and a
    message in errors). bench/compare.py uses it too."""
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.strip()]
    except OSError as e:
        errors.append(f"{name}: no output ({e.strerror})")
        return None
    if not lines:
        errors.append(f"{name}: printed nothing")
        return None
    try:
        obj = json.loads(lines[-1])
    except ValueError:
        errors.append(f"{name}: last stdout line is not JSON: {lines[-1][:120]!r}")
        return None
    if not isinstance(obj, dict):
        errors.append(f"{name}: last stdout line is JSON but not an object")
        return None
    return obj


def _ratio(a, b):
    return a / b if a and b else None


def _pair(f, a, b):
    return [f(x, y) for x, y in zip(a, b)]


def summarize(deploy_path, torchq_path, errors, failed, config, loadavg="?"):
    """Prints the deployment table; returns a dict for the final JSON line
    (every key present, None where a number is missing). failed: the stage
    names run.sh already reported (their output is not read)."""
    dep = None if "deploy_bench" in failed else last_json(deploy_path, "deploy_bench", errors)
    tq = None if "torch_quant" in failed else last_json(torchq_path, "torch_quant", errors)
    batch = (dep or {}).get("batch") or (tq or {}).get("batch") or 128
    results = (dep or {}).get("results", [])

    def ips(model, engine, isa=None):
        """[batch 1, batch N] images/s of the AUTO ISA (or isa) case."""
        out = []
        for b in (1, batch):
            v = None
            for r in results:
                if (r.get("model") == model and r.get("engine") == engine and r.get("batch") == b
                        and (r.get("isa") == isa if isa else r.get("auto"))):
                    v = r.get("images_per_second")
            out.append(v)
        return out

    def first(model, engine, key):
        for r in results:
            if r.get("model") == model and r.get("engine") == engine and r.get("auto"):
                return r.get(key)
        return None

    float_ips, int8_ips = ips("full", "float"), ips("full", "int8")
    pf_ips, pi_ips = ips("pruned", "float"), ips("pruned", "int8")
    isa = first("full", "int8", "isa") or first("pruned", "int8", "isa")
    other_isas = sorted({r["isa"] for r in results if r.get("engine") == "int8" and
                         not r.get("auto") and r.get("model") == "full"})
    if dep is not None:
        for name, v in (("full float (checkpoint)", float_ips), ("full int8 (.iotc)", int8_ips),
                        ("pruned float (checkpoint)", pf_ips), ("pruned int8 (.iotc)", pi_ips)):
            if None in v and not failed & {"deploy_models", "deploy_train", "deploy_prune",
                                            "deploy_quantize", "deploy_quantize_pruned"}:
                errors.append(f"deploy_bench: no result for {name}")

    summ = (tq or {}).get("summary", {})
    t_float = summ.get("float", {}).get("images_per_second", [None, None])
    t_int8 = summ.get("int8", {}).get("images_per_second", [None, None])
    t_int8_na = summ.get("int8_no_amx", {}).get("images_per_second", [None, None])
    if tq is not None and t_int8 == [None, None]:
        errors.append("torch_quant: its JSON has no int8 summary")

    r_int8 = _pair(_ratio, int8_ips, float_ips)
    r_pf = _pair(_ratio, pf_ips, float_ips)
    r_pi = _pair(_ratio, pi_ips, int8_ips)
    r_torch = _pair(_ratio, int8_ips, t_int8)
    r_torch_na = _pair(_ratio, int8_ips, t_int8_na)
    r_float_torch = _pair(_ratio, float_ips, t_float)

    def passes(r, target):
        return [None if v is None else v >= target for v in r]

    p_int8, p_pf, p_pi = passes(r_int8, TARGET_INT8), passes(r_pf, TARGET_PRUNED), \
        passes(r_pi, TARGET_PRUNED)

    def n(v):
        return "-" if v is None else f"{v:,.0f}"

    def x(v, target=None):
        if v is None:
            return "-"
        if target is None:
            return f"{v:.2f}x"
        return f"{v:.2f}x " + ("PASS" if v >= target else "BELOW TARGET")

    tv = (tq or {}).get("torch", "")
    qeng = (tq or {}).get("qengine", "?")
    print()
    print(f"== deployment: {config}, inference, 1 thread, images/s (best of "
          f"{(dep or tq or {}).get('reps', '?')} x >= {(dep or tq or {}).get('min_ms', '?')} ms; "
          f"load average at its start: {loadavg}) ==")
    w = 44
    print(f"{'':{w}s} {'batch 1':>19s} {'batch ' + str(batch):>19s}   target")
    wf, wp = first("full", "int8", "weights") or "?", first("pruned", "int8", "weights") or "?"
    rows = [
        ("iotcnn float, full (nn_exec, sgemm)", float_ips),
        (f"iotcnn int8, full ({isa or '?'}, {wf})", int8_ips),
    ]
    for o in other_isas:
        rows.append((f"  iotcnn int8, full ({o}, for information)", ips("full", "int8", o)))
    rows += [
        ("iotcnn float, pruned", pf_ips),
        (f"iotcnn int8, pruned ({isa or '?'}, {wp})", pi_ips),
        (f"PyTorch {tv} float".replace("  ", " "), t_float),
        (f"PyTorch {tv} int8 ({qeng})".replace("  ", " "), t_int8),
    ]
    if t_int8_na != [None, None]:
        rows.append((f"PyTorch int8 ({qeng}, no AMX: AVX512_CORE_VNNI)", t_int8_na))
    for name, v in rows:
        print(f"{name:{w}s} {n(v[0]):>19s} {n(v[1]):>19s}")
    ratios = [
        ("int8 / float", r_int8, TARGET_INT8),
        ("pruned / unpruned, float", r_pf, TARGET_PRUNED),
        ("pruned / unpruned, int8", r_pi, TARGET_PRUNED),
        ("iotcnn int8 / PyTorch int8", r_torch, None),
    ]
    if t_int8_na != [None, None]:
        ratios.append(("iotcnn int8 / PyTorch int8 without AMX", r_torch_na, None))
    ratios.append(("iotcnn float / PyTorch float", r_float_torch, None))
    for name, r, target in ratios:
        print(f"{'ratio ' + name:{w}s} {x(r[0], target):>19s} {x(r[1], target):>19s}   "
              + (f">= {target:g}x" if target else "(no target)"))
    if dep is not None:
        macs = {m: first(m, "int8", "macs") for m in ("full", "pruned")}
        if macs["full"] and macs["pruned"]:
            print(f"  MACs per image (int8, batch norm folded): full {macs['full'] / 1e6:.2f} M, "
                  f"pruned {macs['pruned'] / 1e6:.2f} M ({macs['full'] / macs['pruned']:.2f}x fewer)")
    if tq is not None:
        print("  PyTorch: its own (untrained) weights, eager-mode static quantization, "
              f"{qeng} backend, faster of eager and TorchScript; input already normalized float")

    warnings = []
    # cpu/wall: the process's CPU time over the wall time of a case's best
    # repetition (1 thread: about 1 when the benchmark had a CPU to itself)
    cases = [r for r in results + (tq or {}).get("results", [])
             if r.get("ms") and r.get("cpu_ms") is not None]
    if cases:
        occ = sorted(r["cpu_ms"] / r["ms"] for r in cases)
        low = [r for r in cases if r["cpu_ms"] / r["ms"] < 0.9]
        if low:
            warnings.append(f"{len(low)} of {len(cases)} deployment timings had their CPU less than "
                            f"90% of the time (cpu/wall down to {occ[0]:.2f}): other processes took "
                            "it away, so those images/s are low; rerun on an idle machine")
    spread = sorted(r["ms_median"] / r["ms"] for r in cases if r.get("ms_median"))
    if spread and spread[len(spread) // 2] > 1.25:
        warnings.append("the median repetition of the deployment timings is "
                        f"{spread[len(spread) // 2]:.2f}x the best one (typical case): the "
                        "machine was busy, the numbers are noisy")

    return {
        "deploy_config": config,
        "deploy_batch": batch,
        "deploy_isa": isa,
        "deploy_weights": {"full": first("full", "int8", "weights"),
                           "pruned": first("pruned", "int8", "weights")},
        "deploy_loadavg": loadavg,
        "deploy_images_per_second": {
            "float": float_ips, "int8": int8_ips, "pruned_float": pf_ips, "pruned_int8": pi_ips,
            **{f"int8_{o}": ips("full", "int8", o) for o in other_isas},
            **{f"pruned_int8_{o}": ips("pruned", "int8", o) for o in other_isas},
            "torch_float": t_float, "torch_int8": t_int8, "torch_int8_no_amx": t_int8_na,
        },
        "ratio_int8_over_float": r_int8,
        "ratio_pruned_over_unpruned_float": r_pf,
        "ratio_pruned_over_unpruned_int8": r_pi,
        "ratio_iotcnn_int8_over_torch_int8": r_torch,
        "ratio_iotcnn_int8_over_torch_int8_no_amx": r_torch_na,
        "ratio_iotcnn_float_over_torch_float": r_float_torch,
        "deploy_targets": {"int8_over_float": TARGET_INT8, "pruned_over_unpruned": TARGET_PRUNED},
        "deploy_pass": {"int8_over_float": p_int8, "pruned_over_unpruned_float": p_pf,
                        "pruned_over_unpruned_int8": p_pi},
        "torch_quant_version": tv or None,
        "torch_quant_engine": (tq or {}).get("qengine"),
        "torch_quant_cpu_amx": (tq or {}).get("cpu_amx"),
        "deploy_warnings": warnings,
    }
