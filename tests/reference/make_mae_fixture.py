#!/usr/bin/python3
"""Generate the PyTorch reference of the MAE engine (tests/fixtures/mae.bin), read by
tests/test_mae.c (test_torch_parity).

    /usr/bin/python3 tests/reference/make_mae_fixture.py [--out tests/fixtures] [--check]

Needs python3-torch and numpy; CI never runs it (the file is committed). Same conventions as
make_fixtures.py (whose writer, criterion and attention it reuses): inputs and parameters drawn
with numpy.random.RandomState, rounded to float32 once; references computed in float64 and
stored as float32; the whole computation repeated in float32 PyTorch, which must stay within a
quarter of the C test's tolerances (1e-5 forward, 1e-4 gradients) or nothing is written.

The model is written out from harness/src/mae.h, independently of the C code:
  masking      the engine's random stream (splitmix64-seeded xoshiro256**, Lemire's bounded
               draw) and selection sampling, re-implemented here; the C test also checks that
               its mask equals the one stored here
  encoder      pre-norm ViT blocks ("blocks.<i>.*") on the prefix + visible tokens
  decoder      mae.norm, mae.embed, mask token at masked places, + mae.pos (+ mae.pos_proj of the
               position features on maskable tokens), blocks "mae.blocks.<i>.*" (mlp 4),
               mae.dec_norm and mae.pred on the masked tokens
  losses       MSE against the target normalised with torch.var (unbiased) + 1e-6 (MAE's
               norm_pix_loss); Chamfer L2 with torch.cdist (both directions, means); softmax
               cross-entropy; weighted mean over masked tokens with weight > 0.

Three cases: mse (prefix 1, position features), chamfer (no prefix, position features), ce
(prefix 1, none). Each stores, under "<case>.": config.*, the mask (keep, masked), input.*
(tokens, target, weight, pos), param.<name>, out.loss, grad.<name> and grad.tokens.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import (DT_I32, FixtureWriter, SelfCheck, TOL_FORWARD, TOL_GRAD,  # noqa: E402
                           attention, f32_round)

M64 = (1 << 64) - 1
MASK_STREAM = 0x6d61736b00000000


# --------------------------------------------------------------------------- the engine's rng

def splitmix64(state):
    state = (state + 0x9e3779b97f4a7c15) & M64
    z = state
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M64


class Rng:
    def __init__(self, seed, stream):
        x = (seed ^ ((stream * 0xd1342543de82ef95 + 0x2545f4914f6cdd1d) & M64)) & M64
        self.s = []
        for _ in range(4):
            x, v = splitmix64(x)
            self.s.append(v)

    def u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        return ((self.u64() >> 32) * n) >> 32


def masked_count(ratio, L):
    return min(max(int(math.floor(ratio * L + 0.5)), 1), L - 1)


def make_mask(seed, n, T, prefix, ratio):
    L = T - prefix
    M = masked_count(ratio, L)
    keep, masked = [], []
    for i in range(n):
        r = Rng(seed ^ MASK_STREAM, i)
        k, mk, left = list(range(prefix)), [0] * T, M
        for t in range(L):
            hit = left > 0 and r.below(L - t) < left
            mk[prefix + t] = int(hit)
            if hit:
                left -= 1
            else:
                k.append(prefix + t)
        keep.append(k)
        masked.append(mk)
    return np.array(keep, dtype=np.int64), np.array(masked, dtype=np.int64)


# --------------------------------------------------------------------------- the model

def block_names(prefix, depth):
    return [f"{prefix}.{i}.{n}" for i in range(depth) for n in
            ("ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "proj.weight", "proj.bias",
             "ln2.weight", "ln2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")]


def param_shapes(c):
    D, E = c["dim"], c["decoder_dim"]
    shapes = []
    for prefix, dim, depth, mlp in (("blocks", D, c["depth"], c["mlp_ratio"]),
                                    ("mae.blocks", E, c["decoder_depth"], 4)):
        Fh = dim * mlp
        for i in range(depth):
            b = f"{prefix}.{i}."
            shapes += [(b + "ln1.weight", (dim,)), (b + "ln1.bias", (dim,)),
                       (b + "qkv.weight", (3 * dim, dim)), (b + "qkv.bias", (3 * dim,)),
                       (b + "proj.weight", (dim, dim)), (b + "proj.bias", (dim,)),
                       (b + "ln2.weight", (dim,)), (b + "ln2.bias", (dim,)),
                       (b + "fc1.weight", (Fh, dim)), (b + "fc1.bias", (Fh,)),
                       (b + "fc2.weight", (dim, Fh)), (b + "fc2.bias", (dim,))]
    out = c["classes"] if c["loss"] == 3 else c["target_floats"]
    shapes += [("mae.norm.weight", (D,)), ("mae.norm.bias", (D,)),
               ("mae.embed.weight", (E, D)), ("mae.embed.bias", (E,)),
               ("mae.mask_token", (E,)), ("mae.pos", (c["tokens"], E))]
    if c["pos_floats"] > 0:
        shapes += [("mae.pos_proj.weight", (E, c["pos_floats"])), ("mae.pos_proj.bias", (E,))]
    shapes += [("mae.dec_norm.weight", (E,)), ("mae.dec_norm.bias", (E,)),
               ("mae.pred.weight", (out, E)), ("mae.pred.bias", (out,))]
    return shapes


def init_params(c, rng):
    P = {}
    for name, shape in param_shapes(c):
        leaf = name.split(".")[-1]
        if ".ln" in name or "norm." in name:
            v = (1.0 + 0.1 * rng.standard_normal(shape)) if leaf == "weight" \
                else 0.1 * rng.standard_normal(shape)
        elif name in ("mae.mask_token", "mae.pos"):
            v = rng.normal(0.0, 0.5, shape)
        elif leaf == "weight":
            v = rng.normal(0.0, 0.3, shape)
        else:
            v = 0.1 * rng.standard_normal(shape)
        P[name] = f32_round(torch.from_numpy(np.asarray(v, dtype=np.float64)))
    return P


def blocks(P, x, prefix, depth, dim, heads):
    for i in range(depth):
        b = f"{prefix}.{i}."
        h = F.layer_norm(x, (dim,), P[b + "ln1.weight"], P[b + "ln1.bias"], eps=1e-5)
        a, _ = attention(F.linear(h, P[b + "qkv.weight"], P[b + "qkv.bias"]), heads)
        x = x + F.linear(a, P[b + "proj.weight"], P[b + "proj.bias"])
        h = F.layer_norm(x, (dim,), P[b + "ln2.weight"], P[b + "ln2.bias"], eps=1e-5)
        h = F.gelu(F.linear(h, P[b + "fc1.weight"], P[b + "fc1.bias"]))
        x = x + F.linear(h, P[b + "fc2.weight"], P[b + "fc2.bias"])
    return x


def mae_loss(P, tokens, target, weight, pos, keep, masked, c):
    n, T, D = tokens.shape
    E, pre = c["decoder_dim"], c["prefix"]
    L = T - pre
    vis = torch.stack([tokens[b, keep[b]] for b in range(n)])
    enc = blocks(P, vis, "blocks", c["depth"], D, c["heads"])
    enc = F.layer_norm(enc, (D,), P["mae.norm.weight"], P["mae.norm.bias"], eps=1e-5)
    emb = F.linear(enc, P["mae.embed.weight"], P["mae.embed.bias"])
    rows = []
    for b in range(n):
        seq = []
        j = 0
        for t in range(T):
            if masked[b, t]:
                seq.append(P["mae.mask_token"])
            else:
                assert keep[b, j] == t
                seq.append(emb[b, j])
                j += 1
        rows.append(torch.stack(seq))
    y = torch.stack(rows) + P["mae.pos"]
    if c["pos_floats"] > 0:
        pp = F.linear(pos, P["mae.pos_proj.weight"], P["mae.pos_proj.bias"])  # [n, L, E]
        y = y + torch.cat([torch.zeros(n, pre, E, dtype=y.dtype), pp], dim=1)
    y = blocks(P, y, "mae.blocks", c["decoder_depth"], E, c["decoder_heads"])
    sel = [(b, t) for b in range(n) for t in range(T) if masked[b, t]]
    h = torch.stack([y[b, t] for b, t in sel])
    h = F.layer_norm(h, (E,), P["mae.dec_norm.weight"], P["mae.dec_norm.bias"], eps=1e-5)
    pred = F.linear(h, P["mae.pred.weight"], P["mae.pred.bias"])
    tgt = torch.stack([target[b, t - pre] for b, t in sel])
    w = torch.stack([weight[b, t - pre] for b, t in sel])
    if c["loss"] == 1:
        mean = tgt.mean(-1, keepdim=True)
        var = tgt.var(-1, keepdim=True)  # unbiased, as MAE
        tn = (tgt - mean) / (var + 1e-6) ** 0.5
        per = ((pred - tn) ** 2).mean(-1)
    elif c["loss"] == 2:
        p3, t3 = pred.view(len(sel), -1, 3), tgt.view(len(sel), -1, 3)
        d = torch.cdist(p3, t3) ** 2  # [tokens, P, P]
        per = d.min(2).values.mean(1) + d.min(1).values.mean(1)
    else:
        per = F.cross_entropy(pred, tgt[:, 0].long(), reduction="none")
    on = w > 0
    assert L > 0
    return (w[on] * per[on]).sum() / w[on].sum()


CASES = [
    dict(name="mse", loss=1, prefix=1, pos_floats=3, target_floats=8, classes=0, seed=101),
    dict(name="chamfer", loss=2, prefix=0, pos_floats=3, target_floats=12, classes=0, seed=202),
    dict(name="ce", loss=3, prefix=1, pos_floats=0, target_floats=1, classes=5, seed=303),
]
COMMON = dict(n=3, maskable=8, dim=16, depth=2, heads=2, mlp_ratio=2, decoder_dim=12,
              decoder_depth=2, decoder_heads=2, mask_ratio_pct=50, mask_seed=77)


def make_case(case, w, chk):
    c = dict(COMMON, **case)
    rng = np.random.RandomState(c["seed"])
    n, L, D, pre = c["n"], c["maskable"], c["dim"], c["prefix"]
    T = L + pre
    c["tokens"] = T
    tf = c["target_floats"]
    P = init_params(c, rng)
    tokens = f32_round(torch.from_numpy(rng.standard_normal((n, T, D))))
    if c["loss"] == 3:
        target = torch.from_numpy(rng.randint(0, c["classes"], (n, L, 1)).astype(np.float64))
    else:
        target = f32_round(torch.from_numpy(rng.standard_normal((n, L, tf))))
    weight = torch.from_numpy(np.where(rng.uniform(size=(n, L)) < 0.2, 0.0,
                                       np.where(rng.uniform(size=(n, L)) < 0.3, 0.5, 1.0)))
    pos = f32_round(torch.from_numpy(rng.standard_normal((n, L, max(c["pos_floats"], 1)))))
    keep, masked = make_mask(c["mask_seed"], n, T, pre, c["mask_ratio_pct"] / 100.0)
    ref = None
    for dtype in (torch.float64, torch.float32):
        Pd = {k: v.to(dtype).clone().requires_grad_(True) for k, v in P.items()}
        tok = tokens.to(dtype).clone().requires_grad_(True)
        loss = mae_loss(Pd, tok, target.to(dtype), weight.to(dtype), pos.to(dtype), keep, masked, c)
        loss.backward()
        res = {"loss": loss.detach().view(1), "tokens": tok.grad}
        res.update({k: v.grad for k, v in Pd.items()})
        if dtype == torch.float64:
            ref = res
        else:
            for k in res:
                chk(c["name"] + (".loss" if k == "loss" else ".grad"),
                    TOL_FORWARD if k == "loss" else TOL_GRAD, res[k], ref[k])
    p = c["name"] + "."
    for k in ("n", "dim", "depth", "heads", "mlp_ratio", "decoder_dim", "decoder_depth",
              "decoder_heads", "loss", "prefix", "target_floats", "classes", "pos_floats",
              "tokens", "mask_ratio_pct", "mask_seed"):
        w.add_int(p + "config." + k, c[k])
    w.add(p + "keep", torch.from_numpy(keep), DT_I32)
    w.add(p + "masked", torch.from_numpy(masked), DT_I32)
    w.add(p + "input.tokens", tokens)
    w.add(p + "input.target", target)
    w.add(p + "input.weight", weight)
    w.add(p + "input.pos", pos)
    for k, v in P.items():
        w.add(p + "param." + k, v)
    w.add(p + "out.loss", ref["loss"])
    w.add(p + "grad.tokens", ref["tokens"])
    for k in P:
        w.add(p + "grad." + k, ref[k])
    print(f"  {c['name']}: loss {float(ref['loss']):.6f}, {int(masked.sum())} masked tokens")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    w, chk = FixtureWriter(), SelfCheck("mae")
    for case in CASES:
        make_case(case, w, chk)
    if not chk.report():
        sys.exit("float32 PyTorch does not meet a quarter of the C tolerances: nothing written")
    data = w.to_bytes()
    assert len(data) < 1 << 20
    path = os.path.join(args.out, "mae.bin")
    if args.check:
        with open(path, "rb") as f:
            same = f.read() == data
        print(f"{path}: {'identical' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
