#!/usr/bin/env python3
"""Rank routing strategies across the built-in scenarios and several seeds.

Usage: scripts/judge-strategies.py [SIGNALBOX_BINARY] [SEEDS] [RATIO]
       (defaults: target/release/signalbox, 5, ttft_p95; RATIO is any key of
       `vs_oracle` in the JSON: ttft_p95, ttft_p99, total_p95, total_p99)

For each scenario and seed it runs `signalbox simulate SCENARIO --seed N --json` and takes
each strategy's p95 time to first token (or RATIO) over the oracle's. A percentile that
falls among failed requests has no ratio; it counts as 10 (ten times the oracle) and is
listed under "capped".
The score is the geometric mean of the ratios over every scenario and seed: 1.00 is as good
as the oracle, lower is better. Failures are summed over every run.
"""
import collections
import json
import math
import subprocess
import sys

SCENARIOS = ["original-demo", "fast-degrades", "outage-recovery", "flapping", "overload"]
CAP = 10.0


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/signalbox"
    seeds = range(1, int(sys.argv[2]) + 1 if len(sys.argv) > 2 else 6)
    metric = sys.argv[3] if len(sys.argv) > 3 else "ttft_p95"
    logs = collections.defaultdict(list)
    per_scenario = collections.defaultdict(lambda: collections.defaultdict(list))
    failures = collections.Counter()
    capped = collections.Counter()
    for scenario in SCENARIOS:
        for seed in seeds:
            out = subprocess.check_output(
                [binary, "simulate", scenario, "--seed", str(seed), "--json"]
            )
            for s in json.loads(out)["strategies"]:
                name = s["strategy"]
                ratio = s["vs_oracle"][metric]
                if ratio is None:
                    ratio = CAP
                    capped[name] += 1
                logs[name].append(math.log(ratio))
                per_scenario[name][scenario].append(math.log(ratio))
                failures[name] += s["failures"]

    def gmean(values):
        return math.exp(sum(values) / len(values))

    header = ["strategy", "score"] + SCENARIOS + ["failures", "capped"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in sorted(logs, key=lambda n: gmean(logs[n])):
        cells = [name, f"{gmean(logs[name]):.2f}"]
        cells += [f"{gmean(per_scenario[name][s]):.2f}" for s in SCENARIOS]
        cells += [str(failures[name]), str(capped[name])]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
