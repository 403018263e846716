#!/usr/bin/python3
"""Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels",
JAIR 2021), as cleanlab's documentation describes its default find_label_issues (filter_by='prune_by_noise_rate',
ranked by self-confidence), written out in NumPy: cleanlab itself is not installable here. The bench (area doctor)
runs it on the same out-of-fold probabilities as the Audit stage, side by side.

  confident_learning.py PROBABILITIES.csv OUT.json

The CSV has one row per image: the given label (0..K-1), then K out-of-fold probabilities. OUT.json gets
{"issues": [row, ...] (flagged rows, most suspicious first), "ranking": [row, ...] (every row by self-confidence),
 "estimated_issues": n}.
"""
import json
import sys

import numpy as np


def confident_joint(labels, probs):
    """C[i][j]: rows given label i whose probability of j reaches j's threshold (the mean self-confidence of the rows
    labelled j), counted under the most probable such j; then calibrated so that row i sums to the count of label i."""
    n, k = probs.shape
    thresholds = np.array([probs[labels == j, j].mean() if np.any(labels == j) else 1.0 for j in range(k)])
    above = probs >= thresholds[None, :] - 1e-6
    joint = np.zeros((k, k))
    counted = above.any(axis=1)
    masked = np.where(above, probs, -np.inf)
    true_guess = masked.argmax(axis=1)
    for i in np.nonzero(counted)[0]:
        joint[labels[i], true_guess[i]] += 1
    label_counts = np.bincount(labels, minlength=k).astype(float)
    row_sums = joint.sum(axis=1, keepdims=True)
    calibrated = np.divide(joint, row_sums, out=np.zeros_like(joint), where=row_sums > 0) * label_counts[:, None]
    return calibrated


def prune_by_noise_rate(labels, probs, joint, min_per_class=1):
    """For every off-diagonal cell (given i, true j), flag round(joint[i][j]) rows given i with the largest margin
    p_j - p_i, keeping at least min_per_class rows of every class unflagged."""
    n, k = probs.shape
    flagged = np.zeros(n, dtype=bool)
    counts = np.rint(joint).astype(int)
    for i in range(k):
        rows = np.nonzero(labels == i)[0]
        if len(rows) == 0:
            continue
        budget = max(0, len(rows) - min_per_class)
        for j in range(k):
            if j == i or counts[i, j] <= 0:
                continue
            take = min(counts[i, j], budget)
            if take <= 0:
                continue
            margin = probs[rows, j] - probs[rows, i]
            order = rows[np.argsort(-margin, kind="stable")]
            flagged[order[:take]] = True
    return flagged


def main():
    data = np.loadtxt(sys.argv[1], delimiter=",", ndmin=2)
    labels = data[:, 0].astype(int)
    probs = data[:, 1:]
    joint = confident_joint(labels, probs)
    flagged = prune_by_noise_rate(labels, probs, joint)
    self_confidence = probs[np.arange(len(labels)), labels]
    ranking = np.argsort(self_confidence, kind="stable")
    issues = [int(r) for r in ranking if flagged[r]]
    estimated = int(round(joint.sum() - np.trace(joint)))
    with open(sys.argv[2], "w") as out:
        json.dump({"issues": issues, "ranking": [int(r) for r in ranking], "estimated_issues": estimated}, out)


if __name__ == "__main__":
    main()
