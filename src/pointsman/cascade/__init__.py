"""Cascades: call a cheap model, score its answer, escalate while the score is low.

answers.py   final-answer normalisation and answer features (hedging, refusal, format)
scorers.py   the AnswerScorer contract and its kinds: agreement, learned, logprob
policies.py  fixed chains with per-step thresholds and the cost-aware route-or-cascade policy
"""
