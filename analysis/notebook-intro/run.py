#!/usr/bin/env python3
"""The Anthropic notebook's introductory experiment, exactly.

n = 5 features, m = 2 hidden, importance 0.9^i, densities 20^(-linspace(0, 1, 10)), the
notebook's loss (reduction `mean`). For each density:

1. `tms-exact minimize` — a census of the exact critical points (32 seeded starts);
2. `tms-exact train` — the notebook's training (AdamW, lr 1e-3, weight decay 0.01, batch 1024,
   10 000 steps, constant schedule), 10 instances;
3. `tms-exact verify` on every trained instance — does training reach the exact optimum?

Writes results.json beside this file and prints the tables of results.md.
Usage: python3 analysis/notebook-intro/run.py [--quick]   (from the repository root)
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("TMS_EXACT", os.path.join(ROOT, "target", "release", "tms-exact"))
QUICK = "--quick" in sys.argv
N, M = 5, 2
DENSITIES = [20 ** (-k / 9) for k in range(10)]
DATA = ["--importance", "decay:0.9", "--reduction", "mean"]
INSTANCES = 3 if QUICK else 10
STEPS = 2000 if QUICK else 10000


def run(args):
    out = subprocess.run([BIN] + args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"tms-exact {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main():
    if not os.path.exists(BIN):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, p in enumerate(DENSITIES):
            dens = ["--density", repr(p)]
            census = run(["minimize", "--n", str(N), "--m", str(M), "--restarts", "32",
                          "--seed", "0", "--json"] + dens + DATA)
            best = census["minima"][0]
            out = os.path.join(tmp, f"d{k}.json")
            trained = run(["train", "--n", str(N), "--m", str(M), "--instances", str(INSTANCES),
                           "--steps", str(STEPS), "--seed", str(k), "--json", "--out", out]
                          + dens + DATA)
            verdicts = []
            for i in range(INSTANCES):
                path = out if INSTANCES == 1 else os.path.join(tmp, f"d{k}-{i}.json")
                v = run(["verify", path, "--restarts", "32", "--seed", "0", "--json"])["instances"][0]
                verdicts.append({
                    "exact_loss": v["loss"],
                    "local_loss": v["local"]["loss"],
                    "verdict": v["verdict"],
                    "same_basin_as_best": abs(v["local"]["loss"] - best["loss"])
                    <= 1e-9 * best["loss"],
                })
            rows.append({
                "density": p,
                "best": {
                    "loss": best["loss"],
                    "W": best["W"],
                    "b": best["b"],
                    "kind": best["kind"],
                    "dimensionality": best["geometry"]["dimensionality"],
                    "dropped": best["geometry"]["dropped"],
                    "antipodal_pairs": best["geometry"]["antipodal_pairs"],
                    "count": best["count"],
                },
                "distinct_minima": len(census["minima"]),
                "trained": verdicts,
                "sampled_losses": [t["sampled_loss"] for t in trained["instances"]],
            })
            print(f"density {p:.4f}: done", file=sys.stderr)
    with open(os.path.join(HERE, "results.json" if not QUICK else "results-quick.json"), "w") as f:
        json.dump(rows, f, indent=1)
    print("| density | exact optimum loss | geometry of the optimum | distinct critical points | "
          "trained instances in the optimum's basin | best trained loss (gap) | median gap |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        b = r["best"]
        geo = describe(b)
        hits = sum(t["same_basin_as_best"] for t in r["trained"])
        gaps = sorted((t["exact_loss"] - b["loss"]) / b["loss"] for t in r["trained"])
        best_trained = min(t["exact_loss"] for t in r["trained"])
        print(f"| {r['density']:.4f} | {b['loss']:.9f} | {geo} | {r['distinct_minima']} | "
              f"{hits}/{len(r['trained'])} | {best_trained:.9f} (+{100 * gaps[0]:.3f} %) | "
              f"+{100 * gaps[len(gaps) // 2]:.2f} % |")


def describe(b):
    d = b["dimensionality"]
    represented = [i for i in range(len(d)) if i not in b["dropped"]]
    parts = []
    if b["dropped"]:
        parts.append("drops " + ",".join(map(str, b["dropped"])))
    if b["antipodal_pairs"]:
        parts.append("antipodal " + ",".join(f"{i}-{j}" for i, j in b["antipodal_pairs"]))
    parts.append("D = " + " ".join(f"{d[i]:.2f}" for i in represented))
    return "; ".join(parts)


if __name__ == "__main__":
    main()
