"""The rates in docs/statistics.md: every rule of the report on the simulated studies of
tests/support/studies.py, with more studies than the tests run. Several minutes; run it under
flock /tmp/mhc-heavy.lock, with PYTHONPATH at the code to measure (src/, or an older checkout's):

    PYTHONPATH=src python tests/support/calibration_rates.py
"""
import sys, json
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import numpy as np
from support.studies import item_study, rating_study, seed_study, vote_study
from mhcompare.report.stats import MinEffect, analyse, detectable_difference
from mhcompare.report.recommend import axis_verdicts
from mhcompare.judge.stats import analysis
NEW = hasattr(analysis, "score_comparisons")
ACC, LAT = "eval.psych_mcq.accuracy", "eval.perf.c1.latency_s"
NONE = MinEffect(fraction=0.0, relative=0.0)
out = {}
def item_results(o, me=NONE):
    names=[f"m{k}" for k in range(o.shape[1])]; ids=[f"q{i}" for i in range(o.shape[-1])]
    for st in o:
        items={m:{s:dict(zip(ids, st[k,s].tolist())) for s in range(st.shape[1])} for k,m in enumerate(names)}
        vals={m:{s:float(st[k,s].mean()) for s in range(st.shape[1])} for k,m in enumerate(names)}
        yield analyse({ACC: vals}, 0.95, 0.05, {ACC: items}, me)[ACC]
N=1000
for label, seeds, sd in [("item null, 3 seeds, 90% stable", 3, 0.0), ("item null, 3 seeds, seed shift 0.15", 3, 0.15),
                         ("item null, 1 seed", 1, 0.0), ("item null, 1 seed, seed shift 0.15", 1, 0.15),
                         ("item null, 5 seeds, seed shift 0.15", 5, 0.15)]:
    o = item_study(np.random.default_rng(100+seeds+int(sd*100)), studies=N, seeds=seeds, seed_sd=sd)
    out[label] = float(np.mean([r.comparison("m0","m1").p_holm < 0.05 for r in item_results(o)]))
o = item_study(np.random.default_rng(7), studies=N, effects=[0.75, 0.0])
rs = list(item_results(o)); true = float(o[:,0].mean()-o[:,1].mean())
out["item planted 0.75 logit: true difference"] = true
out["item planted: told apart"] = float(np.mean([r.comparison("m0","m1").p_holm < 0.05 for r in rs]))
out["item planted: median printed detectable difference"] = float(np.median([detectable_difference(r, 0.05)["difference"] for r in rs[:200]]))
o0 = item_study(np.random.default_rng(8), studies=200, seed_sd=0.15)
D = float(np.median([detectable_difference(r, 0.05)["difference"] for r in item_results(o0)]))
out["item null: median printed detectable difference"] = D
# power at the printed detectable difference: plant the logit effect whose accuracy difference is D
grid = np.linspace(0.1, 1.6, 16)
diffs = [float(np.mean(item_study(np.random.default_rng(9), studies=200, effects=[e,0])[:,0].mean() -
                       item_study(np.random.default_rng(9), studies=200, effects=[0,0])[:,1].mean())) for e in grid]
e = float(np.interp(D, diffs, grid))
o = item_study(np.random.default_rng(10), studies=N, effects=[e, 0.0])
out["item: power at the printed detectable difference"] = float(np.mean([r.comparison("m0","m1").p_holm < 0.05 for r in item_results(o)]))
o = item_study(np.random.default_rng(11), studies=N, models=3, seed_sd=0.15)
out["clearly ahead, 3 equal models (item)"] = float(np.mean([bool(axis_verdicts({ACC: r})[0].clear) for r in item_results(o, MinEffect())]))
def seed_results(v, me=NONE):
    names=[f"m{k}" for k in range(v.shape[1])]
    for st in v:
        yield analyse({LAT:{m:{s:float(st[k,s]) for s in range(st.shape[1])} for k,m in enumerate(names)}}, 0.95, 0.05, min_effect=me)[LAT]
v = seed_study(np.random.default_rng(12), studies=N)
rs=list(seed_results(v))
out["seed null, 3 models x 3 seeds: any pair told apart"] = float(np.mean([any(c.p_holm<0.05 for c in r.comparisons.values()) for r in rs]))
v = seed_study(np.random.default_rng(13), studies=N, seeds=3)
out["clearly ahead, 3 equal models (seed)"] = float(np.mean([bool(axis_verdicts({LAT: r})[0].clear) for r in seed_results(v, MinEffect())]))
# power at the printed detectable difference, 2 models x 3 seeds (true SD of the differences known)
from scipy import stats
sd = 0.05*np.sqrt(2)
for n in (3, 5):
    if NEW:
        from mhcompare.report.crossed import detectable
        d = detectable(sd/np.sqrt(n), n-1, 0.05)
    else:
        d = (stats.t.ppf(0.975, n-1)+stats.t.ppf(0.8, n-1))*sd/np.sqrt(n)
    x = np.random.default_rng(14).normal(d, sd, (20000, n))
    p = stats.ttest_1samp(x, 0, axis=1).pvalue
    out[f"seed: power at the printed detectable difference, {n} seeds"] = float(np.mean(p<0.05))
# human scores
rng = np.random.default_rng(15)
def nonoverlap(frame):
    t = analysis.model_scores(frame, n_boot=200).set_index("model")
    return bool(t.loc["a","ci_low"] > t.loc["b","ci_high"] or t.loc["b","ci_low"] > t.loc["a","ci_high"])
frames=[rating_study(rng) for _ in range(300)]
out["human null, lenient raters: intervals do not overlap"] = float(np.mean([nonoverlap(f) for f in frames]))
if NEW:
    out["human null, lenient raters: told apart"] = float(np.mean([analysis.score_comparisons(f, n_boot=200, seed=k).iloc[0]["p"]<0.05 for k,f in enumerate(frames)]))
# confounded: raters 0-4 lenient rate only a, 5-9 strict only b
def confounded(rng):
    f = rating_study(rng, leniency_sd=0.0)
    lenient = f["model"]=="a"
    f.loc[lenient, "score"] = np.clip(f.loc[lenient, "score"]+ (rng.random(lenient.sum())<0.4), 1, 5)
    f.loc[~lenient, "score"] = np.clip(f.loc[~lenient, "score"]- (rng.random((~lenient).sum())<0.4), 1, 5)
    f["rater_id"] = np.where(lenient, f["rater_id"] % 5, 5 + f["rater_id"] % 5)
    return f
frames=[confounded(rng) for _ in range(100)]
out["human confounded (lenient raters only a): intervals do not overlap"] = float(np.mean([nonoverlap(f) for f in frames]))
if NEW:
    out["human confounded: told apart"] = float(np.mean([bool(analysis.score_comparisons(f, n_boot=100).iloc[0]["told_apart"]) for f in frames]))
from mhcompare.report.power import Components, conversations_needed
needed = conversations_needed(0.3, Components(0.5,0.5,0.7,""), 3)
if NEW:
    out[f"human planted 0.3, {needed} conversations (plan: 80%)"] = float(np.mean([analysis.score_comparisons(rating_study(rng, means={"a":3.3,"b":3.0}, conversations=needed, rounded=False), n_boot=200, seed=k).iloc[0]["told_apart"] for k in range(300)]))
for K in (2, 4, 5, 10, 20):
    rng = np.random.default_rng(16+K)
    ex=0; n=400
    for k in range(n):
        row = analysis.bradley_terry_ranking(vote_study(rng, K), n_boot=200, seed=k).set_index("model").loc["a"]
        ex += bool(row["ci_low"] > 0 or row["ci_high"] < 0)
    out[f"BT null, {K} clusters: interval excludes 0"] = ex/n
print(json.dumps(out, indent=1))
