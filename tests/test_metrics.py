"""EVAL.md metrics and the Fréchet distance, against values worked out in this file."""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

import utils.evaluation.metrics as metrics
from utils.evaluation.metrics import feature_statistics, frechet_distance, score_predictions


def _one_hot(classes, k):
    probs = np.zeros((len(classes), k))
    probs[np.arange(len(classes)), classes] = 1.0
    return probs


def test_one_hot_predictions_equally_used():
    probs = _one_hot([0, 1, 2, 3, 0, 1, 2, 3], 5)
    scores = score_predictions(probs, np.array([0, 1, 2, 3, 0, 1, 2, 0]), n_actions=5)
    assert scores["I_score"] == pytest.approx(4.0)  # number of classes used
    assert scores["intra_E"] == pytest.approx(0.0, abs=1e-12)
    assert scores["class_intra_E"] == pytest.approx(0.0, abs=1e-12)
    assert scores["inter_E"] == pytest.approx(math.log(4))
    assert scores["acc"] == pytest.approx(100.0 * 7 / 8)


def test_one_hot_unequal_usage_is_exp_of_marginal_entropy():
    scores = score_predictions(_one_hot([0, 0, 1, 2], 3), None, n_actions=3)
    marginal = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert scores["I_score"] == pytest.approx(math.exp(marginal))
    assert math.isnan(scores["acc"])


def test_uniform_predictions():
    k = 7
    scores = score_predictions(np.full((6, k), 1.0 / k), np.zeros(6, dtype=int), n_actions=k)
    assert scores["I_score"] == pytest.approx(1.0)
    for key in ("intra_E", "inter_E", "class_intra_E"):
        assert scores[key] == pytest.approx(math.log(k))
    assert scores["acc"] == pytest.approx(100.0)  # argmax of a tie is class 0


def test_mixed_case_by_hand():
    probs = np.array([[1.0, 0.0, 0.0],
                      [0.25, 0.75, 0.0],
                      [0.2, 0.2, 0.6],
                      [0.5, 0.3, 0.2]])
    labels = np.array([0, 1, 1, 2])
    ln = math.log
    mean = [(1 + 0.25 + 0.2 + 0.5) / 4, (0.75 + 0.2 + 0.3) / 4, (0.6 + 0.2) / 4]  # .4875 .3125 .2
    kl = [ln(1 / mean[0]),
          0.25 * ln(0.25 / mean[0]) + 0.75 * ln(0.75 / mean[1]),
          0.2 * ln(0.2 / mean[0]) + 0.2 * ln(0.2 / mean[1]) + 0.6 * ln(0.6 / mean[2]),
          0.5 * ln(0.5 / mean[0]) + 0.3 * ln(0.3 / mean[1]) + 0.2 * ln(0.2 / mean[2])]
    h = [0.0,
         -(0.25 * ln(0.25) + 0.75 * ln(0.75)),
         -(2 * 0.2 * ln(0.2) + 0.6 * ln(0.6)),
         -(0.5 * ln(0.5) + 0.3 * ln(0.3) + 0.2 * ln(0.2))]
    # predicted actions: 0, 1, 2, 0 -> groups {0: rows 0 and 3, 1: row 1, 2: row 2}
    scores = score_predictions(probs, labels, n_actions=3)
    assert scores["I_score"] == pytest.approx(math.exp(sum(kl) / 4))
    assert scores["intra_E"] == pytest.approx(sum(h) / 4)
    assert scores["inter_E"] == pytest.approx(-sum(m * ln(m) for m in mean))
    assert scores["class_intra_E"] == pytest.approx(((h[0] + h[3]) / 2 + h[1] + h[2]) / 3)
    assert scores["class_intra_E"] != pytest.approx(scores["intra_E"])
    assert scores["acc"] == pytest.approx(50.0)  # rows 0 and 1 are right


def test_actor_action_folding():
    n_actions, n_actors = 2, 3  # class = action + actor * n_actions
    classes = [1, 3, 4, 0]      # actions 1, 1, 0, 0
    probs = _one_hot(classes, n_actions * n_actors)
    scores = score_predictions(torch.from_numpy(probs).float(), np.array([1, 1, 0, 1]), n_actions)
    assert scores["acc"] == pytest.approx(75.0)
    assert scores["I_score"] == pytest.approx(4.0)  # raw classes, not folded (folded would be 2)
    assert scores["inter_E"] == pytest.approx(math.log(4))
    # labels carrying the actor offset fold too
    assert score_predictions(probs, np.array([1, 3, 4, 0]), n_actions)["acc"] == pytest.approx(100.0)


def test_class_aware_grouping_uses_folded_action():
    # rows predicted as classes 0 and 2 share action 0 when n_actions = 2
    probs = np.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.2, 0.8, 0.0], [0.0, 0.5, 0.0, 0.5]])
    h = [-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), -(0.2 * math.log(0.2) + 0.8 * math.log(0.8)),
         math.log(2)]
    scores = score_predictions(probs, None, n_actions=2)
    assert scores["class_intra_E"] == pytest.approx(((h[0] + h[1]) / 2 + h[2]) / 2)


def test_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="sum to 1"):
        score_predictions(np.array([[2.0, -1.0], [0.3, 0.3]]).clip(0), None, 2)
    with pytest.raises(ValueError):
        score_predictions(np.zeros((0, 3)), None, 3)
    with pytest.raises(ValueError, match="labels"):
        score_predictions(np.full((3, 2), 0.5), np.zeros(2), 2)


def _random_covariance(rng, dim, samples):
    x = rng.normal(size=(samples, dim)) @ rng.normal(size=(dim, dim))
    return np.cov(x, rowvar=False)


def test_frechet_identical_is_zero_and_symmetric():
    rng = np.random.default_rng(0)
    mu1, s1 = rng.normal(size=16), _random_covariance(rng, 16, 200)
    mu2, s2 = rng.normal(size=16), _random_covariance(rng, 16, 200)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)
    d12, d21 = frechet_distance(mu1, s1, mu2, s2), frechet_distance(mu2, s2, mu1, s1)
    assert d12 > 0 and d12 == pytest.approx(d21, rel=1e-8)
    # the general formula, written here with the symmetric form √s1 s2 √s1
    root1 = scipy.linalg.sqrtm(s1).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) \
        - 2 * np.trace(scipy.linalg.sqrtm(root1 @ s2 @ root1).real)
    assert d12 == pytest.approx(expected, rel=1e-6)


def test_frechet_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)  # 10 + 4 + 1 + 0
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected)
    assert frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(9 + 1)


def test_frechet_survives_singular_covariances():
    rng = np.random.default_rng(1)
    dim = 64  # fewer samples than dimensions: rank-deficient covariances
    f1, f2 = rng.normal(size=(10, dim)), rng.normal(size=(12, dim)) + 0.5
    (mu1, s1), (mu2, s2) = feature_statistics(f1), feature_statistics(f2)
    distance = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(distance) and distance > 0
    zero = np.zeros((dim, dim))
    assert frechet_distance(mu1, zero, mu2, zero) == pytest.approx(np.sum((mu1 - mu2) ** 2))
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("failure", ["nan", "imaginary"])
def test_frechet_retries_when_sqrtm_fails(monkeypatch, failure):
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def flaky_sqrtm(matrix, *args, **kwargs):
        calls.append(matrix)
        root = real_sqrtm(matrix, *args, **kwargs)
        if len(calls) == 1:
            return root * np.nan if failure == "nan" else root + 5j
        return root

    monkeypatch.setattr(metrics.scipy.linalg, "sqrtm", flaky_sqrtm)
    v1, v2 = np.array([1.0, 4.0]), np.array([4.0, 9.0])
    distance = frechet_distance(np.zeros(2), np.diag(v1), np.ones(2), np.diag(v2))
    assert len(calls) == 2  # retried once with eps·I added to both covariances
    assert not np.array_equal(calls[1], np.diag(v1 * v2))
    assert distance == pytest.approx(2 + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2), rel=1e-4)


def test_frechet_falls_back_when_every_sqrtm_fails(monkeypatch):
    monkeypatch.setattr(metrics.scipy.linalg, "sqrtm", lambda m, *a, **k: m * np.nan)
    distance = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.zeros(2), np.diag([4.0, 9.0]))
    assert distance == pytest.approx(1 + 1)


def test_feature_statistics_match_numpy_definitions():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(50, 4))
    mu, sigma = feature_statistics(torch.from_numpy(features))
    centred = features - features.mean(axis=0)
    assert np.allclose(mu, features.mean(axis=0))
    assert np.allclose(sigma, centred.T @ centred / 49)
    assert feature_statistics(features[:, :1])[1].shape == (1, 1)
    with pytest.raises(ValueError):
        feature_statistics(features[:1])


def test_class_intra_entropies_one_value_per_predicted_action():
    from utils.evaluation.metrics import class_intra_entropies
    ln = math.log
    probs = np.array([[0.9, 0.1, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.2, 0.0, 0.8], [0.3, 0.7, 0.0, 0.0]])
    h = [-(0.9 * ln(0.9) + 0.1 * ln(0.1)), ln(2), -(0.2 * ln(0.2) + 0.8 * ln(0.8)), -(0.3 * ln(0.3) + 0.7 * ln(0.7))]
    # n_actions 2: argmax 0, 0 (tie -> first), 3 -> 1, 1 -> groups {0: rows 0, 1; 1: rows 2, 3}
    groups = class_intra_entropies(probs, n_actions=2)
    assert list(groups) == [0, 1]
    assert groups[0] == pytest.approx((h[0] + h[1]) / 2) and groups[1] == pytest.approx((h[2] + h[3]) / 2)
    assert score_predictions(probs, None, 2)["class_intra_E"] == pytest.approx(np.mean(list(groups.values())))
    assert list(class_intra_entropies(probs[2:3], n_actions=4)) == [3]        # unpredicted actions are absent
