#!/usr/bin/python3
"""Generate the PyTorch parity fixtures of m2pt (tests/fixtures/*.bin).

    /usr/bin/python3 tests/reference/make_fixtures.py [--out tests/fixtures] [--check]

Needs python3-torch (>= 1.12, for label_smoothing and batch_first) and numpy. CI never runs
this script: the generated files are committed and read by tests/test_parity.c. See
tests/reference/README.md for the file format and for when to regenerate.

Every reference value is computed in float64 from inputs and parameters that were first
rounded to float32 (so the C engine, which is float32, starts from bit-identical values), and
stored as float32. As a self-check the whole computation is repeated in float32 PyTorch and
compared with the float64 reference under the same criterion as the C test: if float32
PyTorch could not meet the C test's tolerances (for instance because an AdamW update hinges
on a gradient element near zero), the script refuses to write the fixtures.

--check regenerates in memory and compares with the files on disk (exit 1 if they differ).
"""

import argparse
import io
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = b"M2PTFIX1"
DT_F32, DT_I32 = 0, 1

# Tolerances of tests/test_parity.c (criterion: see max_rel_err below). The float32 PyTorch
# self-check must stay below SELF_CHECK_FRACTION of each, leaving headroom for the C engine's
# different (but equally valid) float32 summation order.
TOL_FORWARD = 1e-5
TOL_GRAD = 1e-4
TOL_ADAMW = 1e-4
SELF_CHECK_FRACTION = 0.25


# --------------------------------------------------------------------------- file format

class FixtureWriter:
    """Ordered records: name -> (dtype, shape, little-endian payload)."""

    def __init__(self):
        self.records = []
        self.names = set()

    def add(self, name, value, dtype=DT_F32):
        assert name not in self.names, name
        assert 0 < len(name.encode()) < 256, name
        if dtype == DT_F32:
            arr = np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value,
                             dtype=np.float64)
            assert np.all(np.isfinite(arr)), name
            arr = arr.astype("<f4")
        else:
            arr = np.asarray(value.cpu().numpy() if torch.is_tensor(value) else value)
            assert np.all(arr == np.round(arr)), name
            arr = arr.astype("<i4")
        assert arr.ndim <= 8
        self.names.add(name)
        self.records.append((name, dtype, arr.shape, arr.tobytes(order="C")))

    def add_int(self, name, v):
        self.add(name, np.array([v]), DT_I32)

    def add_float(self, name, v):
        self.add(name, np.array([v], dtype=np.float64))

    def to_bytes(self):
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(struct.pack("<I", len(self.records)))
        for name, dtype, shape, payload in self.records:
            nb = name.encode()
            out.write(struct.pack("<I", len(nb)))
            out.write(nb)
            out.write(struct.pack("<II", dtype, len(shape)))
            for d in shape:
                out.write(struct.pack("<I", d))
            out.write(payload)
        return out.getvalue()


# --------------------------------------------------------------------------- helpers

def f32_round(t):
    """Round to float32 and come back to float64: the exact values the C engine will see."""
    return t.to(torch.float32).to(torch.float64)


def max_rel_err(got, ref):
    """The C test's criterion: max |got - ref| / max |ref| (a floor of 1e-30 on the divisor)."""
    got = got.double()
    ref = ref.double()
    if not torch.all(torch.isfinite(got)):
        return math.inf
    return float((got - ref).abs().max() / max(float(ref.abs().max()), 1e-30))


class SelfCheck:
    def __init__(self, label):
        self.label = label
        self.worst = {}

    def __call__(self, group, tol, got, ref):
        e = max_rel_err(got, ref)
        w = self.worst.get(group, (0.0, tol))
        self.worst[group] = (max(w[0], e), min(w[1], tol))

    def report(self):
        ok = True
        for group, (e, tol) in self.worst.items():
            limit = tol * SELF_CHECK_FRACTION
            flag = "ok" if e <= limit else "TOO LARGE"
            ok &= e <= limit
            print(f"  [{self.label}] float32 torch vs float64 {group:<22} worst {e:.3e}"
                  f"  (limit {limit:.1e}) {flag}")
        return ok


# --------------------------------------------------------------------------- the model

def dead_slice(name, cfg):
    """Elements whose gradient is zero in exact arithmetic, or None.

    The key bias: q . (k + b_k) = q . k + q . b_k adds the same constant to every score of a
    softmax row, so the loss does not depend on b_k and its gradient is exactly 0. In float32 it
    is rounding noise (~1e-9), and AdamW turns noise into updates of up to lr per step
    (m_hat / (sqrt(v_hat) + eps) with |g| ~ eps), so the AdamW trajectory of b_k is not
    reproducible by any float32 implementation. The parity test excludes this slice from the
    AdamW parameter comparison (the loss is unaffected) and only bounds its drift."""
    parts = name.split(".")
    if parts[0] == "blocks" and parts[2] == "qkv" and parts[3] == "bias":
        return slice(cfg["dim"], 2 * cfg["dim"])
    return None


def live(t, name, cfg):
    """t without its dead slice (flattened)."""
    s = dead_slice(name, cfg)
    if s is None:
        return t.reshape(-1)
    return torch.cat([t[:s.start], t[s.stop:]])


def param_shapes(cfg):
    D, C, p, F_ = cfg["dim"], cfg["channels"], cfg["patch"], cfg["dim"] * cfg["mlp_ratio"]
    T = (cfg["height"] // p) * (cfg["width"] // p) + 1
    shapes = [("patch_embed.weight", (D, C * p * p)), ("patch_embed.bias", (D,)),
              ("cls_token", (D,)), ("pos_embed", (T, D))]
    for i in range(cfg["depth"]):
        b = f"blocks.{i}."
        shapes += [(b + "ln1.weight", (D,)), (b + "ln1.bias", (D,)),
                   (b + "qkv.weight", (3 * D, D)), (b + "qkv.bias", (3 * D,)),
                   (b + "proj.weight", (D, D)), (b + "proj.bias", (D,)),
                   (b + "ln2.weight", (D,)), (b + "ln2.bias", (D,)),
                   (b + "fc1.weight", (F_, D)), (b + "fc1.bias", (F_,)),
                   (b + "fc2.weight", (D, F_)), (b + "fc2.bias", (D,))]
    shapes += [("norm.weight", (D,)), ("norm.bias", (D,)),
               ("head.weight", (cfg["classes"], D)), ("head.bias", (cfg["classes"],))]
    return shapes


def is_decayed(name):
    """Weight decay applies exactly to the 2-D weight matrices of the linears."""
    parts = name.split(".")
    return parts[-1] == "weight" and parts[-2] in ("patch_embed", "head", "qkv", "proj", "fc1",
                                                   "fc2")


def init_params(cfg, rng):
    params = {}
    for name, shape in param_shapes(cfg):
        leaf = name.split(".")[-1]
        if name in ("cls_token", "pos_embed"):
            v = rng.normal(0.0, 0.5, shape)
        elif ".ln" in name or name.startswith("norm."):
            v = (1.0 + 0.1 * rng.standard_normal(shape)) if leaf == "weight" \
                else 0.1 * rng.standard_normal(shape)
        elif leaf == "weight":
            v = rng.normal(0.0, 0.2, shape)
        else:
            v = 0.1 * rng.standard_normal(shape)
        params[name] = f32_round(torch.from_numpy(np.asarray(v, dtype=np.float64)))
    return params


def patchify(images, p):
    """[B, C, H, W] -> [B, (H/p)*(W/p), C*p*p]; patch (py, px) at py*(W/p)+px, (c, y, x) order."""
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(B, (H // p) * (W // p), C * p * p)


def attention(qkv, H):
    """qkv [B, T, 3D] (q | k | v) -> (out [B, T, D], P [B, H, T, T])."""
    B, T, D3 = qkv.shape
    D = D3 // 3
    hd = D // H
    q, k, v = qkv.view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
    P = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(hd), dim=-1)
    return (P @ v).transpose(1, 2).reshape(B, T, D), P


def vit_forward(P, images, cfg):
    """Logits [B, classes] of the engine's reference ViT."""
    B = images.shape[0]
    D, H, p = cfg["dim"], cfg["heads"], cfg["patch"]
    x = F.linear(patchify(images, p), P["patch_embed.weight"], P["patch_embed.bias"])
    x = torch.cat([P["cls_token"].view(1, 1, D).expand(B, 1, D), x], dim=1) + P["pos_embed"]
    for i in range(cfg["depth"]):
        b = f"blocks.{i}."
        h = F.layer_norm(x, (D,), P[b + "ln1.weight"], P[b + "ln1.bias"], eps=1e-5)
        a, _ = attention(F.linear(h, P[b + "qkv.weight"], P[b + "qkv.bias"]), H)
        x = x + F.linear(a, P[b + "proj.weight"], P[b + "proj.bias"])
        h = F.layer_norm(x, (D,), P[b + "ln2.weight"], P[b + "ln2.bias"], eps=1e-5)
        h = F.gelu(F.linear(h, P[b + "fc1.weight"], P[b + "fc1.bias"]))
        x = x + F.linear(h, P[b + "fc2.weight"], P[b + "fc2.bias"])
    x = F.layer_norm(x, (D,), P["norm.weight"], P["norm.bias"], eps=1e-5)
    return F.linear(x[:, 0], P["head.weight"], P["head.bias"])


def self_test_building_blocks(P, images, cfg):
    """Cross-check the hand-written pieces against independent PyTorch modules (float64)."""
    D, C, p, H = cfg["dim"], cfg["channels"], cfg["patch"], cfg["heads"]
    with torch.no_grad():
        # Patch embedding == Conv2d with the weight viewed as [D, C, p, p].
        conv = F.conv2d(images, P["patch_embed.weight"].view(D, C, p, p), P["patch_embed.bias"],
                        stride=p).flatten(2).transpose(1, 2)
        lin = F.linear(patchify(images, p), P["patch_embed.weight"], P["patch_embed.bias"])
        assert torch.allclose(conv, lin, rtol=0, atol=1e-12), "patchify order"
        # Attention + proj == nn.MultiheadAttention with in_proj = qkv, out_proj = proj.
        mha = torch.nn.MultiheadAttention(D, H, bias=True, batch_first=True).double()
        mha.in_proj_weight.copy_(P["blocks.0.qkv.weight"])
        mha.in_proj_bias.copy_(P["blocks.0.qkv.bias"])
        mha.out_proj.weight.copy_(P["blocks.0.proj.weight"])
        mha.out_proj.bias.copy_(P["blocks.0.proj.bias"])
        x = torch.randn(2, 5, D, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        ref, ref_w = mha(x, x, x, need_weights=True, average_attn_weights=False)
        a, Pm = attention(F.linear(x, P["blocks.0.qkv.weight"], P["blocks.0.qkv.bias"]), H)
        ours = F.linear(a, P["blocks.0.proj.weight"], P["blocks.0.proj.bias"])
        assert torch.allclose(ours, ref, rtol=0, atol=1e-12), "attention vs MultiheadAttention"
        assert torch.allclose(Pm, ref_w, rtol=0, atol=1e-12), "attention probabilities"


def loss_and_grads(params, images, labels, cfg, smoothing, dtype):
    P = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params.items()}
    logits = vit_forward(P, images.to(dtype), cfg)
    loss = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    loss.backward()
    return logits.detach(), loss.detach(), {k: v.grad.detach() for k, v in P.items()}


def adamw_trajectory(params, images, labels, cfg, smoothing, hp, dtype):
    """hp['steps'] AdamW steps on the same batch; returns (losses[steps+1], final params)."""
    P = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params.items()}
    decay = [v for k, v in P.items() if is_decayed(k)]
    no_decay = [v for k, v in P.items() if not is_decayed(k)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
    x = images.to(dtype)
    losses = []
    for _ in range(hp["steps"]):
        opt.zero_grad()
        loss = F.cross_entropy(vit_forward(P, x, cfg), labels, label_smoothing=smoothing)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    with torch.no_grad():
        losses.append(F.cross_entropy(vit_forward(P, x, cfg), labels,
                                      label_smoothing=smoothing).item())
    return torch.tensor(losses, dtype=torch.float64), {k: v.detach() for k, v in P.items()}


# --------------------------------------------------------------------------- fixtures

VIT_CFG = dict(dim=16, depth=2, heads=2, mlp_ratio=4, channels=1, height=8, width=8, patch=4,
               classes=3, batch=4)
ADAMW_HP = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05, steps=3)


def make_vit_fixture(seed, smoothing, label):
    cfg = VIT_CFG
    rng = np.random.RandomState(seed)
    params = init_params(cfg, rng)
    images = f32_round(torch.from_numpy(
        rng.standard_normal((cfg["batch"], cfg["channels"], cfg["height"], cfg["width"]))))
    labels = torch.from_numpy(np.array([0, 2, 1, 2][:cfg["batch"]], dtype=np.int64))
    self_test_building_blocks(params, images, cfg)

    logits, loss, grads = loss_and_grads(params, images, labels, cfg, smoothing, torch.float64)
    losses, final = adamw_trajectory(params, images, labels, cfg, smoothing, ADAMW_HP,
                                     torch.float64)
    assert abs(losses[0].item() - loss.item()) < 1e-12

    # Float32 self-check, same criterion and grouping as the C test. Two float32 samples: the
    # batch in order and reversed (the mean loss is the same, the rounding of every batch
    # reduction is not), standing in for the C engine's own summation order.
    chk = SelfCheck(label)
    for perm in (torch.arange(cfg["batch"]), torch.arange(cfg["batch"] - 1, -1, -1)):
        l32, s32, g32 = loss_and_grads(params, images[perm], labels[perm], cfg, smoothing,
                                       torch.float32)
        chk("logits", TOL_FORWARD, l32, logits[perm])
        chk("loss", TOL_FORWARD, s32, loss)
        for k in grads:
            chk("grad", TOL_GRAD, g32[k], grads[k])
        ls32, f32 = adamw_trajectory(params, images[perm], labels[perm], cfg, smoothing,
                                     ADAMW_HP, torch.float32)
        for i in range(len(losses)):
            chk("adamw.loss", TOL_ADAMW, ls32[i:i + 1], losses[i:i + 1])
        for k in final:
            chk("adamw.param", TOL_ADAMW, live(f32[k], k, cfg), live(final[k], k, cfg))
    # Conditioning of the AdamW fixture: smallest |grad| relative to its tensor's max |grad|,
    # outside the dead slices (a near-zero live gradient would make AdamW's sign noisy).
    def ratio_of(k):
        g = live(grads[k], k, cfg).abs()
        return float(g.min() / g.max())
    worst_k = min(grads, key=ratio_of)
    ratio = ratio_of(worst_k)
    print(f"  [{label}] loss {loss.item():.6f}, adamw losses "
          + ", ".join(f"{v:.6f}" for v in losses.tolist())
          + f"; min |g|/max|g| {ratio:.1e} ({worst_k})")
    if not chk.report():
        sys.exit(f"make_fixtures: {label}: float32 PyTorch misses the C test's tolerances; "
                 "pick another seed")

    w = FixtureWriter()
    for k in ("dim", "depth", "heads", "mlp_ratio", "channels", "height", "width", "patch",
              "classes", "batch"):
        w.add_int("config." + k, cfg[k])
    w.add_float("config.label_smoothing", smoothing)
    w.add_int("config.seed", seed)
    w.add("input.images", images)
    w.add("input.labels", labels, DT_I32)
    for k, _ in param_shapes(cfg):
        w.add("param." + k, params[k])
    w.add("out.logits", logits)
    w.add("out.loss", loss.view(1))
    for k, _ in param_shapes(cfg):
        w.add("grad." + k, grads[k])
    for k in ("lr", "beta1", "beta2", "eps", "weight_decay"):
        w.add_float("adamw." + k, ADAMW_HP[k])
    w.add_int("adamw.steps", ADAMW_HP["steps"])
    w.add("adamw.loss", losses)
    for k, _ in param_shapes(cfg):
        w.add("adamw.param." + k, final[k])
    return w


def make_ops_fixture(seed):
    rng = np.random.RandomState(seed)
    chk = SelfCheck("ops")
    w = FixtureWriter()

    def t(*shape, scale=1.0, shift=0.0):
        return f32_round(torch.from_numpy(shift + scale * rng.standard_normal(shape)))

    def run(fn, inputs, dtype):
        """fn(*inputs) -> tuple of outputs, the first one (or the sum of all with their own
        upstream gradient) differentiated w.r.t. every input that requires a gradient."""
        xs = [x.to(dtype).clone().requires_grad_(rg) for x, rg in inputs]
        return xs, fn(*xs)

    # linear: y = x W^T + b; upstream gradient dy.
    N, IN, OUT = 6, 5, 7
    x, W, b, dy = t(N, IN), t(OUT, IN, scale=0.5), t(OUT, scale=0.3), t(N, OUT)
    for dtype in (torch.float64, torch.float32):
        xs, y = run(lambda a, c, d: F.linear(a, c, d), [(x, True), (W, True), (b, True)], dtype)
        y.backward(dy.to(dtype))
        res = dict(y=y.detach(), dx=xs[0].grad, dW=xs[1].grad, db=xs[2].grad)
        if dtype == torch.float64:
            ref = res
        else:
            for k in res:
                chk("linear", TOL_FORWARD if k == "y" else TOL_GRAD, res[k], ref[k])
    w.add_int("linear.N", N), w.add_int("linear.in", IN), w.add_int("linear.out", OUT)
    w.add("linear.x", x), w.add("linear.W", W), w.add("linear.b", b), w.add("linear.dy", dy)
    for k in ("y", "dx", "dW", "db"):
        w.add("linear." + k, ref[k])

    # layernorm over the last dim, eps 1e-5; rows with an offset and spread so mean/rstd matter.
    N, C = 6, 16
    x = f32_round(torch.from_numpy(rng.standard_normal((N, C)) * rng.uniform(0.5, 3.0, (N, 1))
                                   + rng.uniform(-2.0, 2.0, (N, 1))))
    lw, lb, dy = t(C, scale=0.1, shift=1.0), t(C, scale=0.1), t(N, C)
    for dtype in (torch.float64, torch.float32):
        xs, y = run(lambda a, c, d: F.layer_norm(a, (C,), c, d, eps=1e-5),
                    [(x, True), (lw, True), (lb, True)], dtype)
        y.backward(dy.to(dtype))
        xd = x.to(dtype)
        mean = xd.mean(-1)
        rstd = 1.0 / torch.sqrt(xd.var(-1, unbiased=False) + 1e-5)
        res = dict(y=y.detach(), mean=mean, rstd=rstd, dx=xs[0].grad, dw=xs[1].grad,
                   db=xs[2].grad)
        if dtype == torch.float64:
            ref = res
        else:
            for k in res:
                chk("layernorm", TOL_FORWARD if k in ("y", "mean", "rstd") else TOL_GRAD,
                    res[k], ref[k])
    w.add_int("layernorm.N", N), w.add_int("layernorm.C", C)
    w.add("layernorm.x", x), w.add("layernorm.w", lw), w.add("layernorm.b", lb)
    w.add("layernorm.dy", dy)
    for k in ("y", "mean", "rstd", "dx", "dw", "db"):
        w.add("layernorm." + k, ref[k])

    # gelu (erf form) on a grid covering both tails plus random points.
    x = f32_round(torch.cat([torch.linspace(-6.0, 6.0, 49, dtype=torch.float64),
                             torch.from_numpy(rng.standard_normal(31) * 2.0)]))
    dy = t(x.numel())
    for dtype in (torch.float64, torch.float32):
        xs, y = run(F.gelu, [(x, True)], dtype)
        y.backward(dy.to(dtype))
        res = dict(y=y.detach(), dx=xs[0].grad)
        if dtype == torch.float64:
            ref = res
        else:
            chk("gelu", TOL_FORWARD, res["y"], ref["y"])
            chk("gelu", TOL_GRAD, res["dx"], ref["dx"])
    w.add("gelu.x", x), w.add("gelu.dy", dy), w.add("gelu.y", ref["y"]), w.add("gelu.dx", ref["dx"])

    # residual: y += x (no reference needed beyond the sum, stored for uniformity).
    x, y0 = t(37), t(37)
    w.add("residual.x", x), w.add("residual.y", y0), w.add("residual.out", x + y0)

    # attention core on fused qkv [B*T, 3D].
    B, T, D, H = 2, 5, 8, 2
    qkv, dout = t(B * T, 3 * D, scale=1.5), t(B * T, D)
    for dtype in (torch.float64, torch.float32):
        xs, (out, Pm) = run(lambda a: attention(a.view(B, T, 3 * D), H), [(qkv, True)], dtype)
        out.backward(dout.to(dtype).view(B, T, D))
        res = dict(out=out.detach().reshape(B * T, D), P=Pm.detach(), dqkv=xs[0].grad)
        if dtype == torch.float64:
            ref = res
        else:
            for k in res:
                chk("attention", TOL_GRAD if k == "dqkv" else TOL_FORWARD, res[k], ref[k])
    w.add_int("attention.B", B), w.add_int("attention.T", T)
    w.add_int("attention.D", D), w.add_int("attention.H", H)
    w.add("attention.qkv", qkv), w.add("attention.dout", dout)
    w.add("attention.out", ref["out"]), w.add("attention.P", ref["P"])
    w.add("attention.dqkv", ref["dqkv"])

    # softmax cross-entropy, mean over rows, with and without label smoothing.
    N, C = 5, 4
    logits = t(N, C, scale=2.0)
    labels = torch.from_numpy(np.array([0, 3, 1, 3, 2], dtype=np.int64))
    for tag, eps in (("ce", 0.1), ("ce0", 0.0)):
        for dtype in (torch.float64, torch.float32):
            xs, loss = run(lambda a: F.cross_entropy(a, labels, label_smoothing=eps),
                           [(logits, True)], dtype)
            loss.backward()
            res = dict(loss=loss.detach().view(1), probs=torch.softmax(xs[0].detach(), -1),
                       dlogits=xs[0].grad)
            if dtype == torch.float64:
                ref = res
            else:
                for k in res:
                    chk("crossentropy", TOL_GRAD if k == "dlogits" else TOL_FORWARD,
                        res[k], ref[k])
        w.add_int(tag + ".N", N), w.add_int(tag + ".C", C)
        w.add_float(tag + ".smoothing", eps)
        w.add(tag + ".logits", logits), w.add(tag + ".labels", labels, DT_I32)
        for k in ("loss", "probs", "dlogits"):
            w.add(tag + "." + k, ref[k])

    if not chk.report():
        sys.exit("make_fixtures: ops: float32 PyTorch misses the C test's tolerances")
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--check", action="store_true",
                    help="compare with the files on disk instead of writing")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"make_fixtures: torch {torch.__version__}, numpy {np.__version__}")
    files = {
        "vit2.bin": make_vit_fixture(1234, 0.1, "vit2"),
        "vit2_ls0.bin": make_vit_fixture(4321, 0.0, "vit2_ls0"),
        "ops.bin": make_ops_fixture(99),
    }
    status = 0
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for fname, writer in files.items():
        data = writer.to_bytes()
        total += len(data)
        path = os.path.join(args.out, fname)
        if args.check:
            try:
                with open(path, "rb") as f:
                    old = f.read()
            except OSError:
                old = None
            same = old == data
            print(f"  {path}: {'identical' if same else 'DIFFERS'}")
            status |= not same
        else:
            with open(path, "wb") as f:
                f.write(data)
            print(f"  wrote {path}: {len(writer.records)} records, {len(data)} bytes")
    assert total < 1 << 20, "fixtures must stay under 1 MB"
    return status


if __name__ == "__main__":
    sys.exit(main())
