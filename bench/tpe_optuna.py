"""Optuna's TPE on the same synthetic problems as tpe_bench.c (same landscapes
from the same seeds, same settings: multivariate, 10 start-up trials, 24
candidates, prior weight 1). Prints JSON like tpe_bench."""
import json
import sys
import time
import warnings

import optuna

NI, ND, MINIBATCH, MAX_TRIALS = 13, 20, 20, 150
MASK = (1 << 64) - 1


def splitmix(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


class Rng:
    def __init__(self, seed):
        self.s = seed & MASK

    def uniform(self):
        self.s, z = splitmix(self.s)
        return (z >> 11) * (1.0 / 9007199254740992.0)


def landscape(seed):
    r = Rng(seed)
    a = [(r.uniform() - 0.5) * 0.2 for _ in range(NI)]
    b = [(r.uniform() - 0.5) * 0.2 for _ in range(ND)]
    return [[0.5 + a[i] + b[j] + (r.uniform() - 0.5) * 0.06 for j in range(ND)] for i in range(NI)]


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    hits, total, count = [], 0.0, 0
    for s in range(seeds):
        p = landscape(s)
        thr = sorted((v for row in p for v in row), reverse=True)[NI * ND // 20 - 1]
        sampler = optuna.samplers.TPESampler(seed=s, multivariate=True, n_startup_trials=10,
                                             n_ei_candidates=24, prior_weight=1.0)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        noise = Rng(s * 7919 + 1)
        hit = MAX_TRIALS + 1
        for n in range(1, MAX_TRIALS + 1):
            t0 = time.perf_counter()
            trial = study.ask()
            i = trial.suggest_categorical("i", list(range(NI)))
            j = trial.suggest_categorical("j", list(range(ND)))
            total += time.perf_counter() - t0
            count += 1
            if p[i][j] >= thr:
                hit = n
                break
            k = sum(1 for _ in range(MINIBATCH) if noise.uniform() < p[i][j])
            study.tell(trial, k / MINIBATCH)
        hits.append(hit)
    # time per suggestion on a full 100-trial run
    p = landscape(1)
    sampler = optuna.samplers.TPESampler(seed=1, multivariate=True, n_startup_trials=10,
                                         n_ei_candidates=24, prior_weight=1.0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    noise = Rng(5)
    us = 0.0
    for _ in range(100):
        t0 = time.perf_counter()
        trial = study.ask()
        i = trial.suggest_categorical("i", list(range(NI)))
        j = trial.suggest_categorical("j", list(range(ND)))
        us += time.perf_counter() - t0
        k = sum(1 for _ in range(MINIBATCH) if noise.uniform() < p[i][j])
        study.tell(trial, k / MINIBATCH)
    print(json.dumps({"optuna_tpe": {"trials_to_top5": hits, "us_per_suggestion": us / 100 * 1e6,
                                     "version": optuna.__version__}}))


if __name__ == "__main__":
    main()
