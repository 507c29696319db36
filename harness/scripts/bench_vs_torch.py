#!/usr/bin/python3
"""m2pt against PyTorch on the same model, side by side in one sitting.

Interleaves ROUNDS rounds of `m2pt bench --json` with the PyTorch reference
(torch_vit_bench.py: same micro-ViT, same batch, AdamW) at 1 and 2 threads, baseline and
reparam, for the default shape and (with --large) the larger one, then prints the medians and
the ratio m2pt / PyTorch, PyTorch taken at its better thread count. Needs Debian's python3-torch
(run with /usr/bin/python3). The machine may be shared: compare medians, rerun when unsure.

usage: bench_vs_torch.py [--rounds N] [--large] [--m2pt build/m2pt]
                         [--torch-bench ../shared/bench/torch_vit_bench.py]
"""
import argparse, json, os, re, statistics, subprocess, sys

SHAPES = {  # m2pt bench shape -> torch_vit_bench.py arguments
    "default": ["--dim", "64", "--depth", "4", "--heads", "4", "--patch", "4", "--batch", "128"],
    "large": ["--dim", "192", "--depth", "6", "--heads", "3", "--patch", "2", "--batch", "32"],
}


def torch_images_per_s(script, shape, pathway, threads, steps):
    out = subprocess.run([sys.executable, script, "--pathway", pathway, "--threads", str(threads),
                          "--steps", str(steps)] + SHAPES[shape],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"images_per_s=([0-9.]+)", out).group(1))


def m2pt_run(binary, shape):
    out = subprocess.run([binary, "bench", "--shape", shape, "--json"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--large", action="store_true", help="also the dim 192 / 197-token shape")
    ap.add_argument("--m2pt", default="build/m2pt")
    ap.add_argument("--no-torch", action="store_true", help="only m2pt's own medians")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--torch-bench", default=os.path.normpath(os.path.join(here, "../../../shared/bench/torch_vit_bench.py")))
    a = ap.parse_args()
    if not a.no_torch and not os.path.exists(a.torch_bench):
        sys.exit(f"bench_vs_torch: {a.torch_bench} not found (give --torch-bench PATH)")
    try:
        if not a.no_torch:
            import torch  # noqa: F401
    except ImportError:
        sys.exit("bench_vs_torch: PyTorch is missing: apt-get install python3-torch, run with /usr/bin/python3")
    shapes = ["default"] + (["large"] if a.large else [])
    m, t = {}, {}  # (shape, pathway, threads) -> list of images/s
    peak = {}
    ratio = {}  # (shape, what, threads) -> per-round ratios: reparam/baseline step, merged/baseline inference, %peak
    for r in range(a.rounds):
        for shape in shapes:
            print(f"round {r + 1}/{a.rounds}: {shape} shape", file=sys.stderr, flush=True)
            j = m2pt_run(a.m2pt, shape)
            for s in j["sgemm"]:
                peak.setdefault(s["threads"], []).append(s["gflops"])
            sh = j["shapes"][0]
            byp = {res["pathway"]: {tm["threads"]: tm for tm in res["timings"]} for res in sh["results"]}
            for res in sh["results"]:
                for tm in res["timings"]:
                    if res["pathway"] in ("baseline", "reparam"):
                        m.setdefault((shape, res["pathway"], tm["threads"]), []).append(tm["train_images_per_s"])
            for th, b in byp["baseline"].items():
                r_, mg = byp["reparam"][th], byp["merged"][th]
                ratio.setdefault((shape, "reparam step / baseline step", th), []).append(r_["time_vs_baseline"])
                ratio.setdefault((shape, "merged / baseline inference time", th), []).append(mg["time_vs_baseline"])
                ratio.setdefault((shape, "baseline GFLOP/s", th), []).append(b["train_gflops"])
                # the share against the peak timed beside each repeat (m2pt bench's pct_peak)
                ratio.setdefault((shape, "baseline % of sgemm peak", th), []).append(b["pct_peak"])
                ratio.setdefault((shape, "reparam % of sgemm peak", th), []).append(r_["pct_peak"])
                ratio.setdefault((shape, "peak RSS MB (after this shape)", th), []).append(sh["peak_rss_mb"])
            for pathway in ("baseline", "reparam") if not a.no_torch else ():
                for threads in (1, 2):
                    steps = 20 if shape == "default" else 5
                    t.setdefault((shape, pathway, threads), []).append(
                        torch_images_per_s(a.torch_bench, shape, pathway, threads, steps))
    med = statistics.median
    print(f"sgemm peak (median of {a.rounds}): " + ", ".join(f"{k} thread(s) {med(v):.1f} GFLOP/s" for k, v in sorted(peak.items())))
    for k in sorted(ratio, key=lambda k: (k[0] != "default", k[1], k[2])):
        v = ratio[k]
        print(f"{k[0]:8s} {k[1]:32s} {k[2]} thread(s): median {med(v):.3f}  (rounds: {', '.join(f'{x:.3f}' for x in v)})")
    if a.no_torch:
        return
    print("shape    pathway  m2pt 1 thr  m2pt all  torch 1 thr  torch 2 thr  ratio (m2pt all / torch best)")
    for shape in shapes:
        for pathway in ("baseline", "reparam"):
            ms = sorted(k[2] for k in m if k[0] == shape and k[1] == pathway)
            m1, mall = med(m[(shape, pathway, ms[0])]), med(m[(shape, pathway, ms[-1])])
            t1, t2 = med(t[(shape, pathway, 1)]), med(t[(shape, pathway, 2)])
            print(f"{shape:8s} {pathway:8s} {m1:10.0f}  {mall:8.0f}  {t1:11.0f}  {t2:11.0f}  {mall / max(t1, t2):.2f}x")
    print("(images/s, medians of the rounds)")


if __name__ == "__main__":
    main()
