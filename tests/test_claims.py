"Every claim judge on hand-made tables whose verdict is known: one table per verdict for each claim."
import math
import pytest
from icl_study.analysis.claims import CLAIMS, VERDICTS, SOFTMAX, LINEAR, scorecard, seeds_to_decide
from icl_study.analysis.results import results_from, curves_from

SIX = ('softmax', 'gqa', 'sparse', 'linear', 'lowrank', 'gated')
R, C, I = VERDICTS  # reproduced, contradicted, inconclusive

def ctx(values, sweep='context'):
    return {sweep: results_from(sweep, values)}

def others(v5=(.3, .31, .29), v40=(.2, .21, .19), skip=()):
    "The families a table needs besides the ones under test, at n = 5 and 40."
    return {f: {5: list(v5), 40: list(v40)} for f in SIX if f not in skip}

def depth(final=None, taus=None, deg=None):
    keys = [(v, L) for v in (SOFTMAX, LINEAR) for L in (1, 6)]
    return {'depth': curves_from(taus or {k: [30., 31., 32.] for k in keys}, final or {k: [.1, .1, .1] for k in keys},
                                 deg or {k: [1.02, 1.03, 1.04] for k in keys})}

def pats(vals):
    "heads tables: every pattern metric with the given per-seed values at 2 and 4 heads."
    import pandas as pd
    return {'heads': pd.concat([results_from('heads', {'softmax': {h: v for h in (2, 4)}}, metric=m) for m, v in vals.items()])}

TABLES = {
    'linear-best-long': {
        R: ctx(others(skip=('linear',)) | {'linear': {5: [.3, .3, .3], 40: [.05, .06, .05]}}),
        C: ctx(others(skip=('linear', 'softmax')) | {'linear': {5: [.3] * 3, 40: [.2, .21, .2]}, 'softmax': {5: [.3] * 3, 40: [.02, .03, .02]}}),
        I: ctx(others(skip=('linear', 'softmax')) | {'linear': {5: [.3] * 3, 40: [.05, .15, .1]}, 'softmax': {5: [.3] * 3, 40: [.1, .05, .11]}}),
    },
    'lowrank-rank': {
        R: {'rank': results_from('rank', {v: {.1: [.5, .52, .51], .5: [.3, .31, .3], .8: [.21, .2, .2], 1.: [.2, .2, .21]} for v in ('lowrank', 'lowrank-block')})},
        C: {'rank': results_from('rank', {v: {.1: [.1, .11, .1], .5: [.2, .2, .2], .8: [.3, .31, .3], 1.: [.3, .3, .31]} for v in ('lowrank', 'lowrank-block')})},
        I: {'rank': results_from('rank', {v: {.1: [.2, .21, .2], .5: [.25, .25, .25], .8: [.18, .3, .24], 1.: [.26, .27, .26]} for v in ('lowrank', 'lowrank-block')})},
    },
    'lowrank-context': {
        R: ctx({'lowrank': {5: [.6, .61, .6], 40: [.3, .31, .3]}, 'linear': {5: [.5] * 3, 40: [.1, .11, .1]}}),
        C: ctx({'lowrank': {5: [.3, .31, .3], 40: [.6, .61, .6]}, 'linear': {5: [.5] * 3, 40: [.1, .11, .1]}}),
        I: ctx({'lowrank': {5: [.6, .61, .6], 40: [.3, .7, .2]}, 'linear': {5: [.5] * 3, 40: [.1, .11, .1]}}),
    },
    'sparse-flat': {
        R: ctx({'sparse': {5: [.60, .62, .61], 40: [.61, .62, .60]}}),
        C: ctx({'sparse': {5: [.60, .62, .61], 40: [.30, .31, .29]}}),
        I: ctx({'sparse': {5: [.60, .62, .61], 40: [.40, .80, .62]}}),
    },
    'gated-nonmonotonic': {
        R: ctx({'gated': {5: [.5, .5, .51], 10: [.3, .31, .3], 20: [.45, .46, .45], 40: [.2, .2, .21]}}),
        C: ctx({'gated': {5: [.5, .51, .5], 10: [.4, .41, .4], 20: [.3, .3, .31], 40: [.2, .21, .2]}}),
        I: ctx({'gated': {5: [.5, .51, .5], 10: [.4, .41, .4], 20: [.3, .5, .4], 40: [.2, .21, .2]}}),
    },
    'untrained-no-icl': {
        R: ctx({f: {5: [1., 1.02, .99], 40: [1.01, .98, 1.]} for f in SIX}, 'context_untrained'),
        C: ctx({f: {5: [1., 1.02, .99], 40: [1.01, .98, 1.]} for f in SIX[1:]} | {'softmax': {5: [1.] * 3, 40: [.5, .51, .5]}}, 'context_untrained'),
        I: ctx({f: {5: [1., 1.02, .99], 40: [1.01, .98, 1.]} for f in SIX[1:]} | {'softmax': {5: [1.] * 3, 40: [.85, .95, .75]}}, 'context_untrained'),
    },
    'linear-converges-faster': {
        R: depth(taus={(SOFTMAX, L): [40., 42., 44.] for L in (1, 6)} | {(LINEAR, L): [20., 21., 22.] for L in (1, 6)}),
        C: depth(taus={(SOFTMAX, L): [20., 21., 22.] for L in (1, 6)} | {(LINEAR, L): [40., 42., 44.] for L in (1, 6)}),
        I: depth(taus={(SOFTMAX, L): [20., 44., 30.] for L in (1, 6)} | {(LINEAR, L): [40., 21., 31.] for L in (1, 6)}),
    },
    'depth-helps-both': {
        R: depth(final={(v, 1): [.3, .31, .3] for v in (SOFTMAX, LINEAR)} | {(v, 6): [.05, .05, .06] for v in (SOFTMAX, LINEAR)}),
        C: depth(final={(v, 1): [.05, .05, .06] for v in (SOFTMAX, LINEAR)} | {(v, 6): [.3, .31, .3] for v in (SOFTMAX, LINEAR)}),
        I: depth(final={(v, 1): [.1, .1, .1] for v in (SOFTMAX, LINEAR)} | {(v, 6): [.05, .2, .1] for v in (SOFTMAX, LINEAR)}),
    },
    'linear-better-deep': {
        R: depth(final={(v, 1): [.3] * 3 for v in (SOFTMAX, LINEAR)} | {(SOFTMAX, 6): [.036, .037, .036], (LINEAR, 6): [.030, .031, .030]}),
        C: depth(final={(v, 1): [.3] * 3 for v in (SOFTMAX, LINEAR)} | {(SOFTMAX, 6): [.030, .031, .030], (LINEAR, 6): [.036, .037, .036]}),
        I: depth(final={(v, 1): [.3] * 3 for v in (SOFTMAX, LINEAR)} | {(SOFTMAX, 6): [.030, .040, .035], (LINEAR, 6): [.036, .030, .034]}),
    },
    'shift-under-10pct': {
        R: depth(deg={(v, L): [1.02, 1.03, 1.04] for v in (SOFTMAX, LINEAR) for L in (1, 6)}),
        C: depth(deg={(v, L): [1.02, 1.03, 1.04] for v in (SOFTMAX, LINEAR) for L in (1,)} | {(v, 6): [1.5, 1.6, 1.55] for v in (SOFTMAX, LINEAR)}),
        I: depth(deg={(v, L): [1.02, 1.03, 1.04] for v in (SOFTMAX, LINEAR) for L in (1,)} | {(v, 6): [1.0, 1.2, 1.1] for v in (SOFTMAX, LINEAR)}),
    },
    'softmax-more-robust': {
        R: depth(deg={(SOFTMAX, L): [1.02, 1.03, 1.02] for L in (1, 6)} | {(LINEAR, L): [1.2, 1.21, 1.2] for L in (1, 6)}),
        C: depth(deg={(SOFTMAX, L): [1.2, 1.21, 1.2] for L in (1, 6)} | {(LINEAR, L): [1.02, 1.03, 1.02] for L in (1, 6)}),
        I: depth(deg={(SOFTMAX, L): [1.02, 1.2, 1.1] for L in (1, 6)} | {(LINEAR, L): [1.2, 1.02, 1.1] for L in (1, 6)}),
    },
    'multihead-beats-single': {
        R: {'heads': results_from('heads', {'softmax': {1: [.3, .31, .3], 2: [.1, .11, .1], 4: [.12, .12, .13]}})},
        C: {'heads': results_from('heads', {'softmax': {1: [.1, .11, .1], 2: [.3, .31, .3], 4: [.32, .32, .33]}})},
        I: {'heads': results_from('heads', {'softmax': {1: [.2, .21, .2], 2: [.1, .3, .2], 4: [.25, .15, .2]}})},
    },
    'weight-patterns': {
        R: pats({'kq_diag': [.95, .96, .97], 'kq_alike': [.9, .92, .91], 'ov_last': [.97, .98, .96], 'ov_zero_sum': [.02, .05, .03]}),
        C: pats({'kq_diag': [.3, .31, .3], 'kq_alike': [.3, .32, .31], 'ov_last': [.2, .21, .2], 'ov_zero_sum': [.9, .95, .93]}),
        I: pats({'kq_diag': [.6, 1., .8], 'kq_alike': [.6, 1., .8], 'ov_last': [.6, 1., .8], 'ov_zero_sum': [0., .4, .2]}),
    },
    'softmax-longer-prompts': {
        R: {'length': results_from('length', {'softmax': {10: [.1] * 3, 80: [.12, .13, .12]}, 'linear': {10: [.1] * 3, 80: [5., 6., 5.5]}})},
        C: {'length': results_from('length', {'softmax': {10: [.1] * 3, 80: [5., 6., 5.5]}, 'linear': {10: [.1] * 3, 80: [.12, .13, .12]}})},
        I: {'length': results_from('length', {'softmax': {10: [.1] * 3, 80: [.1, .3, .2]}, 'linear': {10: [.1] * 3, 80: [.3, .1, .2]}})},
    },
}

def test_every_claim_has_tables():
    "Every claim of the study documents has a table per verdict here; the study's own (doc 'own') are judged on hand-made tables in nbs/09f_kinds.ipynb."
    assert set(TABLES) == {k for k, c in CLAIMS.items() if c.doc != 'own'}

@pytest.mark.parametrize('cid,want', [(c, v) for c in TABLES for v in VERDICTS])
def test_verdict(cid, want):
    found = CLAIMS[cid].judge(TABLES[cid][want])
    found = found if isinstance(found, list) else [found]
    assert [f.verdict for f in found] == [want] * len(found), [(f.part, f.figure, f.verdict) for f in found]
    for f in found: assert f.figure and f.detail and (want != R or math.isfinite(f.value))

def test_nonmonotonic_needs_three_lengths():
    "Two context lengths are one step: a clear fall does not contradict a claim about the curve's shape (the faithful grid)."
    f = CLAIMS['gated-nonmonotonic'].judge(ctx({'gated': {10: [.5, .51, .5], 40: [.2, .21, .2]}}))
    assert f.verdict == I and 'at least three' in f.detail
    assert seeds_to_decide(f.value, f.ci_low, f.ci_high, 3, f.bounds, f.scale) == math.inf   # more seeds never decide it

def test_scorecard_rows_and_gaps():
    "The scorecard has one row per finding; a missing sweep or a judge that cannot read its table is inconclusive, not an error."
    sc = scorecard({**TABLES['sparse-flat'][R], 'heads': TABLES['weight-patterns'][R]['heads'].iloc[:0]}, 'quick')
    assert list(sc.columns[:4]) == ['id', 'doc', 'claim', 'part'] and set(sc.id) == set(CLAIMS)
    by = sc.set_index(['id', 'part'])
    assert by.loc[('sparse-flat', ''), 'verdict'] == R
    assert by.loc[('depth-helps-both', ''), 'our_figure'] == 'not measured'
    assert by.loc[('multihead-beats-single', ''), 'detail'].startswith('could not judge')
    assert (sc.profile == 'quick').all() and set(sc.verdict) <= set(VERDICTS)

def test_scorecard_plans_seeds():
    "Every judged row says the seeds it rests on and those the power calculation asks for; a wider spread asks for more."
    narrow = scorecard(ctx(others() | {'sparse': {5: [.60, .61, .62], 40: [.62, .63, .64]}}), 'quick').set_index('id')
    wide = scorecard(ctx(others() | {'sparse': {5: [.60, .66, .62], 40: [.70, .61, .64]}}), 'quick').set_index('id')
    assert narrow.loc['sparse-flat', 'n_seeds'] == 3
    assert 2 <= narrow.loc['sparse-flat', 'seeds_to_decide'] < wide.loc['sparse-flat', 'seeds_to_decide']
    assert narrow.loc['multihead-beats-single', 'n_seeds'] == 0          # a sweep not in the results: nothing to plan
