#!/usr/bin/python3
"""Golden values for tests/test_train_golden.c: nn_train against PyTorch.

Regenerate with Debian's python3-torch (not a virtualenv python):
    /usr/bin/python3 tests/golden/train_golden.py > tests/train_golden.h

The network (2x6x6 input, 4 classes), in the library's parameter layout:
    conv2d 3 filters 3x3 pad 1, no bias (w (3,2,3,3)) - batchnorm (gamma (3),
    beta (3)) - relu - maxpool 2 - flatten - dense 4 (w (4,27), b (4))
(No conv bias: batch norm cancels its gradient, leaving float noise that
AdamW, which normalizes every gradient, would turn into full-size steps of
either sign - no two implementations could agree on it.)
10 training images, batch 4 (2 steps per epoch, the last 2 images of each
epoch dropped), 2 epochs, 6 validation images evaluated after each epoch.
Everything the test feeds nn_train comes from here: the raw pixels, labels,
normalization and initial parameters (all exact in float32).

The batches: nn_train shuffles with its own RNG (seed 7, stream SHUFFLE,
key = the 1-based epoch). BATCHES below is that shuffle, copied from the
library; the C test checks that nn_train really loads these images in these
batches, so if the shuffle ever changes the test says so (copy the new
batches here and regenerate).

Two runs, which between them pin the training step:
  A  SGD momentum 0.9 Nesterov, weight decay 0.05 on conv/dense weights
     only, label smoothing 0.1, cosine from 0.1 to 0.001 after a 1-epoch
     linear warm-up (so the 4 steps use 0, 0.05, 0.1, 0.0505).
  B  AdamW (0.9, 0.999, eps 1e-8, decoupled weight decay 0.1 on conv/dense
     weights only), no smoothing, one-cycle peaking at 0.02 (pct_start 0.5),
     test-time flip on the validation pass.
  C  run A's optimizer and schedule with distillation (libnn/nn_distill.h):
     a teacher of the same shape (its own parameters and batch-norm running
     statistics, TEACHER below, evaluated in eval mode on the same batch)
     and the loss (1 - w) * CE(z, y; smoothing 0.1) + w * T^2 *
     KL(softmax(t / T) || softmax(z / T)), T = 2.5, w = 0.6.
  D  run C with the teacher's logits the mean of each image's and its
     mirror's (nn_distill_spec.teacher_flip).
The learning rate of step s is the schedule's value at s (float32, as the
library's nn_schedule_lr returns it); PyTorch gets it through
param_group["lr"] before each step.
"""
import numpy as np
import torch
import torch.nn.functional as F

from optim_golden import f32, sched_lrs

SEED = 7
BATCHES = [[[2, 5, 0, 3], [9, 4, 8, 7]],   # epoch 1
           [[0, 5, 7, 6], [8, 4, 3, 1]]]   # epoch 2
N, NV, C, H, W, K = 10, 6, 2, 6, 6, 4
MEAN, STD = [0.25, 0.4], [0.5, 0.3]


def make_data():
    rs = np.random.RandomState(2024)
    images = rs.randint(0, 256, size=(N, C, H, W)).astype(np.uint8)
    labels = rs.randint(0, K, size=N).astype(np.uint8)
    vimages = rs.randint(0, 256, size=(NV, C, H, W)).astype(np.uint8)
    vlabels = rs.randint(0, K, size=NV).astype(np.uint8)
    # Initial parameters, He-like scales, biases and BN non-trivial (so
    # that decaying them by mistake would show).
    params = {
        "conv.w": rs.normal(0, np.sqrt(2 / 18), (3, 2, 3, 3)),
        "bn.gamma": rs.uniform(0.8, 1.2, 3),
        "bn.beta": rs.uniform(-0.2, 0.2, 3),
        "fc.w": rs.normal(0, np.sqrt(2 / 27), (4, 27)),
        "fc.b": rs.uniform(-0.3, 0.3, 4),
    }
    params = {k: v.astype(np.float32) for k, v in params.items()}
    return images, labels, vimages, vlabels, params


DISTILL_T, DISTILL_W = 2.5, 0.6


def make_teacher():
    """The teacher of run C: parameters and running statistics of its own
    (a separate random stream, so the data above stays as it was)."""
    rs = np.random.RandomState(2025)
    p = {
        "conv.w": rs.normal(0, np.sqrt(2 / 18), (3, 2, 3, 3)),
        "bn.gamma": rs.uniform(0.8, 1.2, 3),
        "bn.beta": rs.uniform(-0.2, 0.2, 3),
        "fc.w": rs.normal(0, np.sqrt(4 / 27), (4, 27)),
        "fc.b": rs.uniform(-0.3, 0.3, 4),
        "bn.mean": rs.uniform(-0.5, 0.5, 3),
        "bn.var": rs.uniform(0.5, 2.0, 3),
    }
    return {k: v.astype(np.float32) for k, v in p.items()}


def teacher_net(p):
    net = Net(p)
    with torch.no_grad():
        net.bn.running_mean.copy_(torch.from_numpy(p["bn.mean"]))
        net.bn.running_var.copy_(torch.from_numpy(p["bn.var"]))
    net.eval()
    return net


def distill_loss(z, t, y, smoothing):
    hard = F.cross_entropy(z, y, label_smoothing=smoothing)
    T = DISTILL_T
    soft = F.kl_div(F.log_softmax(z / T, 1), F.log_softmax(t / T, 1), reduction="batchmean",
                    log_target=True) * (T * T)
    return (1 - DISTILL_W) * hard + DISTILL_W * soft


def normalize(pixels):
    """The library's nn_exec_load_images, op for op in float32."""
    x = pixels.astype(np.float32)
    out = np.empty_like(x)
    for c in range(C):
        std, mean = np.float32(STD[c]), np.float32(MEAN[c])
        scale = np.float32(1.0) / (np.float32(255.0) * std)
        shift = -mean / std
        out[:, c] = x[:, c] * scale + shift
    return torch.from_numpy(out)


class Net(torch.nn.Module):
    def __init__(self, p):
        super().__init__()
        self.conv = torch.nn.Conv2d(C, 3, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
        self.fc = torch.nn.Linear(27, K)
        with torch.no_grad():
            self.conv.weight.copy_(torch.from_numpy(p["conv.w"]))
            self.bn.weight.copy_(torch.from_numpy(p["bn.gamma"]))
            self.bn.bias.copy_(torch.from_numpy(p["bn.beta"]))
            self.fc.weight.copy_(torch.from_numpy(p["fc.w"]))
            self.fc.bias.copy_(torch.from_numpy(p["fc.b"]))

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))

    def flat(self):
        """Parameters in the library's layout (nn_model.h)."""
        ts = [self.conv.weight, self.bn.weight, self.bn.bias, self.fc.weight,
              self.fc.bias]
        return np.concatenate([t.detach().numpy().ravel() for t in ts])

    def groups(self, wd):
        """Weight decay on conv/dense weights only, never biases or BN."""
        return [{"params": [self.conv.weight, self.fc.weight], "weight_decay": wd},
                {"params": [self.bn.weight, self.bn.bias, self.fc.bias],
                 "weight_decay": 0.0}]


def lrs_run_a():
    base, eta_min = f32(0.1), f32(0.001)
    warm = [base * s / 2.0 for s in range(2)]  # 1 epoch = 2 steps, linear from 0
    cos = sched_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=2,
                                                                          eta_min=eta_min),
                    2, base)
    return [f32(v) for v in warm + cos]


def lrs_run_b():
    base = f32(0.02)
    return [f32(v) for v in sched_lrs(
        lambda o: torch.optim.lr_scheduler.OneCycleLR(
            o, max_lr=base, total_steps=4, pct_start=f32(0.5), anneal_strategy="cos",
            cycle_momentum=False, div_factor=25.0, final_div_factor=1e4, three_phase=False),
        4, base)]


def train(data, make_opt, lrs, smoothing, flip, teacher=None, teacher_flip=False):
    images, labels, vimages, vlabels, p = data
    net = Net(p)
    opt = make_opt(net)
    x, y = normalize(images), torch.from_numpy(labels.astype(np.int64))
    vx, vy = normalize(vimages), torch.from_numpy(vlabels.astype(np.int64))
    step, out = 0, {"epoch_loss": [], "val_loss": [], "val_correct": []}
    for epoch in BATCHES:
        losses = []
        for batch in epoch:
            net.train()
            logits = net(x[batch])
            if teacher is None:
                loss = F.cross_entropy(logits, y[batch], label_smoothing=smoothing)
            else:
                with torch.no_grad():
                    t = teacher(x[batch])
                    if teacher_flip:
                        t = 0.5 * (t + teacher(torch.flip(x[batch], [3])))
                loss = distill_loss(logits, t, y[batch], smoothing)
            opt.zero_grad()
            loss.backward()
            for g in opt.param_groups:
                g["lr"] = lrs[step]
            opt.step()
            step += 1
            losses.append(loss.item())
        out["epoch_loss"].append(sum(losses) / len(losses))
        net.eval()
        with torch.no_grad():
            z = net(vx)
            if flip:
                z = 0.5 * (z + net(torch.flip(vx, [3])))
            out["val_loss"].append(F.cross_entropy(z, vy).item())
            out["val_correct"].append(int((z.argmax(1) == vy).sum()))
    out["params"] = net.flat()
    out["state"] = np.concatenate([net.bn.running_mean.numpy(), net.bn.running_var.numpy()])
    out["lrs"] = lrs
    return out


def c_floats(name, values, per_line=6):
    print("static const float %s[%d] = {" % (name, len(values)))
    for i in range(0, len(values), per_line):
        print("    " + " ".join("%.9gf," % v for v in values[i:i + per_line]))
    print("};")


def c_bytes(name, values, per_line=24):
    print("static const uint8_t %s[%d] = {" % (name, len(values)))
    for i in range(0, len(values), per_line):
        print("    " + " ".join("%d," % v for v in values[i:i + per_line]))
    print("};")


def c_doubles(name, values):
    print("static const double %s[%d] = {%s};" % (
        name, len(values), ", ".join("%.17g" % v for v in values)))


def print_run(tag, r):
    c_floats("TG_%s_PARAMS" % tag, r["params"])
    c_floats("TG_%s_STATE" % tag, r["state"])
    c_doubles("TG_%s_LR" % tag, r["lrs"])
    c_doubles("TG_%s_EPOCH_LOSS" % tag, r["epoch_loss"])
    c_doubles("TG_%s_VAL_LOSS" % tag, r["val_loss"])
    print("static const int TG_%s_VAL_CORRECT[2] = {%d, %d};" % (tag, *r["val_correct"]))


def main():
    torch.set_default_dtype(torch.float32)
    torch.set_num_threads(1)
    data = make_data()
    images, labels, vimages, vlabels, p = data
    print("/* Generated by tests/golden/train_golden.py with torch %s: do not edit. */"
          % torch.__version__)
    print("#include <stdint.h>")
    print("static const int TG_BATCHES[2][2][4] = {%s};" % ", ".join(
        "{" + ", ".join("{" + ", ".join(map(str, b)) + "}" for b in e) + "}" for e in BATCHES))
    c_bytes("TG_IMAGES", images.ravel())
    c_bytes("TG_LABELS", labels)
    c_bytes("TG_VAL_IMAGES", vimages.ravel())
    c_bytes("TG_VAL_LABELS", vlabels)
    c_floats("TG_INIT", np.concatenate([p[k].ravel() for k in
                                        ("conv.w", "bn.gamma", "bn.beta", "fc.w",
                                         "fc.b")]))
    run_a = train(data, lambda net: torch.optim.SGD(net.groups(f32(0.05)), lr=0.1,
                                                    momentum=f32(0.9), dampening=0.0,
                                                    nesterov=True),
                  lrs_run_a(), f32(0.1), False)
    run_b = train(data, lambda net: torch.optim.AdamW(net.groups(f32(0.1)), lr=0.1,
                                                      betas=(f32(0.9), f32(0.999)),
                                                      eps=f32(1e-8)),
                  lrs_run_b(), 0.0, True)
    teacher = make_teacher()
    run_c = train(data, lambda net: torch.optim.SGD(net.groups(f32(0.05)), lr=0.1,
                                                    momentum=f32(0.9), dampening=0.0,
                                                    nesterov=True),
                  lrs_run_a(), f32(0.1), False, teacher_net(teacher))
    print_run("A", run_a)
    print_run("B", run_b)
    c_floats("TG_TEACHER", np.concatenate([teacher[k].ravel() for k in
                                           ("conv.w", "bn.gamma", "bn.beta", "fc.w",
                                            "fc.b")]))
    c_floats("TG_TEACHER_STATE", np.concatenate([teacher["bn.mean"], teacher["bn.var"]]))
    print("static const float TG_DISTILL_T = %.9gf, TG_DISTILL_W = %.9gf;" %
          (DISTILL_T, DISTILL_W))
    print_run("C", run_c)
    run_d = train(data, lambda net: torch.optim.SGD(net.groups(f32(0.05)), lr=0.1,
                                                    momentum=f32(0.9), dampening=0.0,
                                                    nesterov=True),
                  lrs_run_a(), f32(0.1), False, teacher_net(teacher), teacher_flip=True)
    print_run("D", run_d)


if __name__ == "__main__":
    main()
