"""Scores of generated videos (EVAL.md): accuracy, Inception Score, entropies, Fréchet distance.

Natural logarithms throughout; a term p·log p with p = 0 contributes 0.
"""
import warnings

import numpy as np
import scipy.linalg
from scipy.special import xlogy

_IMAG_TOLERANCE = 1e-3   # relative to the trace term; larger imaginary parts trigger a retry
_RETRY_EPSILONS = (1e-6, 1e-5, 1e-4, 1e-3)


def _as_float64(array) -> np.ndarray:
    """Return a tensor (detached, on CPU) or array-like as a float64 NumPy array."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def entropies(probs) -> np.ndarray:
    """Take probabilities `[N, K]`; return each row's entropy H(P_i) = -Σ_k p log p, `[N]`."""
    return -xlogy(probs, probs).sum(axis=1)


def class_intra_entropies(probs, n_actions: int) -> dict:
    """Take probabilities `[N, K]`; return {predicted action (int, `argmax mod n_actions`): mean H(P_i) of
    the videos predicted as it}, for the actions predicted at least once, in increasing order."""
    probs = _as_float64(probs)
    row_entropy = entropies(probs)
    predicted_action = probs.argmax(axis=1) % n_actions
    return {int(action): float(row_entropy[predicted_action == action].mean())
            for action in np.unique(predicted_action)}


def score_predictions(probs, labels, n_actions: int) -> dict:
    """Score classifier softmax outputs `probs [N, K]` of N generated videos.

    labels: `[N]` action the videos were generated for (folded `mod n_actions`
    as well, so actor×action labels are accepted), or None. Returns floats:
    - acc: % of `argmax(P_i) mod n_actions` equal to the label (NaN when labels is None)
    - I_score: exp(mean_i KL(P_i ‖ p̄)), p̄ = mean_i P_i, on the raw K probabilities
    - intra_E: mean_i H(P_i);  inter_E: H(p̄)
    - class_intra_E: H(P_i) averaged within each predicted (folded) action (see
      class_intra_entropies for the per-action values), then averaged over the actions
      that were predicted at least once (the summary).
    """
    probs = _as_float64(probs)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must be [N, K] with N >= 1, got shape {probs.shape}")
    if not np.all(np.isfinite(probs)) or probs.min() < 0:
        raise ValueError("probs must be finite and non-negative")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probs must sum to 1 (pass softmax outputs, not logits)")
    if n_actions < 1:
        raise ValueError(f"n_actions must be >= 1, got {n_actions}")

    mean_probs = probs.mean(axis=0)
    kl = (xlogy(probs, probs) - xlogy(probs, mean_probs[None, :])).sum(axis=1)
    row_entropy = entropies(probs)
    predicted_action = probs.argmax(axis=1) % n_actions
    group_means = [row_entropy[predicted_action == action].mean()
                   for action in np.unique(predicted_action)]  # = class_intra_entropies' values

    if labels is None:
        accuracy = float("nan")
    else:
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        if labels.shape[0] != probs.shape[0]:
            raise ValueError(f"{labels.shape[0]} labels for {probs.shape[0]} predictions")
        accuracy = 100.0 * float(np.mean(predicted_action == labels % n_actions))

    return {
        "acc": accuracy,
        "I_score": float(np.exp(kl.mean())),
        "intra_E": float(row_entropy.mean()),
        "inter_E": float(entropies(mean_probs[None, :])[0]),
        "class_intra_E": float(np.mean(group_means)),
    }


def feature_statistics(features):
    """Take features `[N, F]` (N >= 2); return their Gaussian fit `(mu [F], sigma [F, F])`,
    sigma being the unbiased sample covariance."""
    features = _as_float64(features)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must be [N, F] with N >= 2, got shape {features.shape}")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def _trace_sqrt_product(sigma1, sigma2):
    """Return tr(sqrtm(sigma1 @ sigma2)) or None when sqrtm's result is unusable."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular products are handled below
        root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if isinstance(root, tuple):  # older SciPy returns (root, error) in some modes
        root = root[0]
    if not np.all(np.isfinite(root)):
        return None
    trace = np.trace(root)
    scale = max(1.0, abs(trace.real))
    if np.iscomplexobj(root) and np.abs(root.imag).max() > _IMAG_TOLERANCE * scale:
        return None
    return float(trace.real)


def _trace_sqrt_product_eigen(sigma1, sigma2):
    """Return tr(sqrtm(sigma1 @ sigma2)) as Σ sqrt(eig(√σ1 σ2 √σ1)), a symmetric PSD form."""
    eigval, eigvec = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (eigvec * np.sqrt(np.clip(eigval, 0, None))) @ eigvec.T
    middle = root1 @ sigma2 @ root1
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2): means `[F]`, covariances `[F, F]`.

    d² = |mu1 - mu2|² + tr(σ1) + tr(σ2) - 2 tr(sqrtm(σ1 σ2)). Small imaginary
    parts of the matrix root are dropped; if it is non-finite or has a large
    imaginary part, eps·I is added to both covariances (eps growing from 1e-6
    times their mean diagonal); if that still fails, the trace is taken from a
    symmetric eigen-decomposition. The result is clipped at 0 and never NaN for
    finite inputs.
    """
    mu1, mu2 = np.atleast_1d(_as_float64(mu1)), np.atleast_1d(_as_float64(mu2))
    sigma1, sigma2 = np.atleast_2d(_as_float64(sigma1)), np.atleast_2d(_as_float64(sigma2))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) \
            or sigma2.shape != (dim, dim):
        raise ValueError(f"shapes do not match: mu {mu1.shape}, {mu2.shape}; "
                         f"sigma {sigma1.shape}, {sigma2.shape}")
    if not all(np.all(np.isfinite(a)) for a in (mu1, mu2, sigma1, sigma2)):
        raise ValueError("statistics must be finite")

    trace_root = _trace_sqrt_product(sigma1, sigma2)
    if trace_root is None:
        scale = max(np.abs(np.diag(sigma1)).mean(), np.abs(np.diag(sigma2)).mean(), 1e-12)
        for eps in _RETRY_EPSILONS:
            offset = eps * scale * np.eye(dim)
            trace_root = _trace_sqrt_product(sigma1 + offset, sigma2 + offset)
            if trace_root is not None:
                break
    if trace_root is None:
        trace_root = _trace_sqrt_product_eigen(sigma1, sigma2)
    diff = mu1 - mu2
    distance = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root
    return float(max(distance, 0.0))
