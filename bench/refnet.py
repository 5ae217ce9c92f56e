"""refnet.py - the network of an iotcnn run configuration, as the benchmark
scripts see it (bench/torch_ref.py builds it in PyTorch, bench/compare.py
counts its FLOPs). Standard library only.

Reads the subset of the configuration format (config/cfg.h) that a plain
sequential CNN uses: layer types conv2d, batchnorm, relu, maxpool, flatten,
dropout, dense, each reading the previous layer, with iotcnn's defaults
(libnn/nn_spec.c: conv kernel 3, stride 1, pad 0, bias on; batchnorm eps
1e-5, momentum 0.1; maxpool size 2, stride = size; dropout rate 0.5).
Anything else (add, "input" references, ...) is refused with the JSON path:
the benchmark would not compare like with like. The config itself is
validated by iotcnn, not here.
"""

import json

# input shape (C, H, W) and class count of each named dataset
DATASETS = {"mnist": (1, 28, 28, 10), "fashion": (1, 28, 28, 10), "cifar10": (3, 32, 32, 10)}
SUPPORTED = ("conv2d", "batchnorm", "relu", "maxpool", "flatten", "dropout", "dense")


class ConfigError(ValueError):
    pass


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not JSON: {e}") from None


def plan(cfg, path="config"):
    """The layers with their shapes: a list of dicts with "type" and, per
    type, conv2d: cin, cout, k, stride, pad, h, w (output), bias;
    batchnorm: c, eps, momentum, dims (2 on images, 1 on vectors);
    maxpool: k, stride; dense: nin, nout, bias; dropout: rate.
    Returns (input (C,H,W), layers)."""
    ds = cfg.get("data", {}).get("dataset")
    if ds not in DATASETS:
        raise ConfigError(f"{path}: data.dataset {ds!r}: the benchmark knows {sorted(DATASETS)}")
    c, h, w, classes = DATASETS[ds]
    shape = (c, h, w)
    flat = None  # set once the tensor is flat
    out = []
    layers = cfg.get("model", {}).get("layers", [])
    for i, l in enumerate(layers):
        where = f"{path}: model.layers[{i}]"
        t = l.get("type")
        if t not in SUPPORTED or "input" in l or "from" in l:
            raise ConfigError(f"{where}: the benchmark handles only sequential {', '.join(SUPPORTED)}")
        if t == "conv2d":
            if flat is not None:
                raise ConfigError(f"{where}: conv2d after flatten")
            k, s, p = l.get("kernel", 3), l.get("stride", 1), l.get("pad", 0)
            cin, hin, win = shape
            ho, wo = (hin + 2 * p - k) // s + 1, (win + 2 * p - k) // s + 1
            if ho < 1 or wo < 1:
                raise ConfigError(f"{where}: output would be empty ({ho}x{wo})")
            out.append({"type": t, "cin": cin, "cout": l["filters"], "k": k, "stride": s, "pad": p,
                        "h": ho, "w": wo, "bias": bool(l.get("bias", True))})
            shape = (l["filters"], ho, wo)
        elif t == "maxpool":
            if flat is not None:
                raise ConfigError(f"{where}: maxpool after flatten")
            k = l.get("size", 2)
            s = l.get("stride", k)
            cin, hin, win = shape
            shape = (cin, (hin - k) // s + 1, (win - k) // s + 1)
            out.append({"type": t, "k": k, "stride": s})
        elif t == "flatten":
            flat = shape[0] * shape[1] * shape[2] if flat is None else flat
            out.append({"type": t})
        elif t == "dense":
            if flat is None:  # iotcnn's dense flattens its input itself
                flat = shape[0] * shape[1] * shape[2]
            out.append({"type": t, "nin": flat, "nout": l["units"], "bias": bool(l.get("bias", True))})
            flat = l["units"]
        elif t == "batchnorm":
            c_bn = shape[0] if flat is None else flat
            out.append({"type": t, "c": c_bn, "eps": l.get("eps", 1e-5),
                        "momentum": l.get("momentum", 0.1), "dims": 2 if flat is None else 1})
        elif t == "dropout":
            out.append({"type": t, "rate": l.get("rate", 0.5)})
        else:
            out.append({"type": t})
    if not out or out[-1]["type"] != "dense" or out[-1]["nout"] != classes:
        raise ConfigError(f"{path}: the last layer must be dense with {classes} units")
    return (c, h, w), out


def macs(layer):
    """Multiply-accumulates of one forward pass of a layer, per image."""
    if layer["type"] == "conv2d":
        return layer["cout"] * layer["cin"] * layer["k"] ** 2 * layer["h"] * layer["w"]
    if layer["type"] == "dense":
        return layer["nin"] * layer["nout"]
    return 0


def train_flops_per_image(layers):
    """FLOPs of one training image through conv and dense layers:
        2*sum(MACs)                  forward
      + 2*sum(MACs)                  weight gradients
      + 2*(sum(MACs) - MACs(first))  input gradients; the first conv/dense
                                     layer needs none (only parameter-free
                                     layers, or the image, lie before it)
    i.e. 6*sum(MACs) - 2*MACs(first). ReLU, pooling, dropout, loss, biases
    and the optimizer update are elementwise and not counted. For the
    reference MNIST network: sum(MACs) = 19,094,528, first conv 225,792,
    so 114,115,584 FLOPs per image."""
    m = [macs(l) for l in layers if l["type"] in ("conv2d", "dense")]
    return 6 * sum(m) - 2 * (m[0] if m else 0)
