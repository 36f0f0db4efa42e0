#!/usr/bin/env python3
"""Reference values for quantlab's bootstrap (include/quantlab/eval/bootstrap.hpp), computed
independently with numpy:

  1. numpy.percentile (default "linear" method) of a few arrays at a few levels, for
     linear_quantile;
  2. the exact bootstrap distribution of the mean of a small integer sample, by enumerating all
     n**n equally likely resamples (no randomness), and numpy.percentile of it at 2.5 % and 97.5 %:
     a Monte Carlo percentile bootstrap with many resamples must land on (or next to) those.

  tools/make-bootstrap-fixture.py > tests/eval/fixtures/bootstrap/reference.json
"""
import itertools, json, sys

import numpy as np


def main():
    rng = np.random.default_rng(20261207)
    quantiles = []
    for n in (1, 2, 5, 17):
        v = np.sort(rng.normal(size=n) * 3.0)
        for q in (0.0, 0.025, 0.1, 0.5, 0.9, 0.975, 1.0):
            quantiles.append({"sorted": v.tolist(), "q": q, "value": float(np.percentile(v, 100 * q))})

    sample = [0, 1, 3, 4, 7, 12]
    n = len(sample)
    sums = np.array([sum(sample[i] for i in idx) for idx in itertools.product(range(n), repeat=n)], dtype=np.int64)
    means = sums / n
    values, counts = np.unique(sums, return_counts=True)
    exact = {
        "sample": sample,
        "resamples_enumerated": int(len(sums)),
        "sum_support": values.tolist(),
        "sum_counts": counts.tolist(),
        "p2_5": float(np.percentile(means, 2.5)),
        "p97_5": float(np.percentile(means, 97.5)),
    }
    json.dump({"generator": "tools/make-bootstrap-fixture.py",
               "numpy": np.__version__,
               "python": sys.version.split()[0],
               "quantiles": quantiles,
               "exact_bootstrap": exact}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
