"""Figures for the notebooks: pair montages, training curves, distance histograms.

Matplotlib figures are made with ``fig, ax = plt.subplots(...)``, returned (a notebook
shows them) and, when ``path`` is given, also saved as a PNG at a modest dpi so that the
files stay small. Images are taken as greyscale ``(H, W)`` / ``(H, W, 1)`` or RGB
``(H, W, 3)``, either uint8 0-255 or float 0-1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np

DPI = 90
GREEN = (0, 200, 0)  # RGB
RED = (220, 0, 0)  # RGB


def to_uint8_rgb(image) -> np.ndarray:
    """An image as uint8 RGB ``(H, W, 3)``: float images are taken as 0-1 and scaled."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(np.asarray(image, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected a greyscale or RGB image, got shape {image.shape}")
    return image


def _pair_strip(left, right, gap: int = 2) -> np.ndarray:
    """Two images side by side (uint8 RGB) with a grey bar between them."""
    left, right = to_uint8_rgb(left), to_uint8_rgb(right)
    height = max(left.shape[0], right.shape[0])
    strip = np.zeros((height, left.shape[1] + gap + right.shape[1], 3), dtype=np.uint8)
    strip[:, left.shape[1]:left.shape[1] + gap] = 128
    strip[:left.shape[0], :left.shape[1]] = left
    strip[:right.shape[0], left.shape[1] + gap:] = right
    return strip


def _save(fig, path: str | Path | None) -> None:
    """Save a figure as PNG at ``DPI`` when a path is given."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")


def pair_tile(left, right, label: int, tile_size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """One montage tile (uint8 RGB): the pair below a green "pos" or red "neg" caption."""
    width, height = tile_size
    band, margin = 16, 4  # caption height, space around the pair, in pixels
    strip = _pair_strip(left, right)
    scale = min((width - 2 * margin) / strip.shape[1], (height - band - margin) / strip.shape[0])
    if scale <= 0:
        raise ValueError(f"tile_size {tile_size} is too small for a caption and a pair")
    size = (max(1, round(strip.shape[1] * scale)), max(1, round(strip.shape[0] * scale)))
    strip = cv2.resize(strip, size, interpolation=cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA)
    tile = np.zeros((height, width, 3), dtype=np.uint8)
    top, left_edge = band + (height - band - size[1]) // 2, (width - size[0]) // 2
    tile[top:top + size[1], left_edge:left_edge + size[0]] = strip
    text, color = ("pos", GREEN) if int(label) == 1 else ("neg", RED)
    cv2.putText(tile, text, (2, band - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)
    return tile


def pair_montage(images, pairs=None, labels=None, n: int | None = None,
                 tile_size: tuple[int, int] = (96, 64), montage_shape: tuple[int, int] = (7, 7),
                 seed: int | None = 0) -> np.ndarray:
    """A grid of random pairs captioned "pos" (green) or "neg" (red), as **uint8 RGB**.

    Give either ``images`` with index ``pairs`` ``(P, 2)`` (from ``make_pair_indices``),
    or pixel pairs ``(P, 2, H, W[, C])`` (from ``make_pairs``) as ``images`` with
    ``pairs=None``. ``labels`` are the pair labels (1 = same, 0 = different).
    ``tile_size`` is (width, height) of one tile, ``montage_shape`` (columns, rows) as in
    ``imutils.build_montages``; ``n`` pairs (default: a full grid) are drawn without
    replacement with ``seed``. Show it with ``plt.imshow``; for ``cv2.imwrite`` convert
    with ``cv2.cvtColor(montage, cv2.COLOR_RGB2BGR)``.
    """
    from imutils import build_montages

    images = np.asarray(images)
    if labels is None:
        raise ValueError("pair_montage needs the pair labels")
    labels = np.asarray(labels).ravel()
    capacity = montage_shape[0] * montage_shape[1]
    n = min(capacity, len(labels)) if n is None else n
    if not 0 < n <= capacity:
        cols, rows = montage_shape
        raise ValueError(f"n={n}: a {cols}x{rows} montage holds 1 to {capacity} pairs")
    chosen = np.random.default_rng(seed).choice(len(labels), size=n, replace=False)
    tiles = []
    for i in chosen:
        if pairs is None:
            left, right = images[i][0], images[i][1]
        else:
            left, right = images[pairs[i][0]], images[pairs[i][1]]
        tiles.append(pair_tile(left, right, labels[i], tile_size))
    return build_montages(tiles, tile_size, montage_shape)[0]


def show_image(image, title: str = "", path: str | Path | None = None):
    """One image (e.g. a montage) without axes, optionally saved as PNG."""
    image = to_uint8_rgb(image)
    fig, ax = plt.subplots(figsize=(image.shape[1] / 100 + 0.5, image.shape[0] / 100 + 0.7))
    ax.imshow(image)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    _save(fig, path)
    return fig


def plot_history(history, metrics: Sequence[str] | None = None, path: str | Path | None = None):
    """Training curves: one panel per metric, training and (if recorded) validation.

    ``history`` is a ``keras.callbacks.History`` or its ``.history`` dict; ``metrics``
    defaults to every recorded metric without the ``val_`` prefix.
    """
    history = getattr(history, "history", history)
    if not isinstance(history, Mapping) or not history:
        raise ValueError("history must be a non-empty History or dict of per-epoch values")
    if metrics is None:
        metrics = [k for k in history if not k.startswith("val_")]
    missing = [m for m in metrics if m not in history]
    if missing:
        raise KeyError(f"not in the history: {', '.join(missing)} (recorded: {', '.join(history)})")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", label="validation")
        ax.set(title=metric, xlabel="epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_distance_histograms(distances, labels, threshold: float | None = None,
                             path: str | Path | None = None, bins: int = 50,
                             xlabel: str = "distance"):
    """Overlaid histograms of same-class (label 1) and different-class (label 0) scores."""
    distances = np.asarray(distances, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel()
    edges = np.histogram_bin_edges(distances, bins=bins)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(distances[labels == 1], bins=edges, alpha=0.6, color="tab:green", label="same (1)")
    ax.hist(distances[labels == 0], bins=edges, alpha=0.6, color="tab:red", label="different (0)")
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.3f}")
    ax.set(xlabel=xlabel, ylabel="pairs")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)
    return fig


def show_pairs_with_scores(left, right, scores, path: str | Path | None = None, labels=None,
                           ncols: int = 4, score_name: str = "similarity"):
    """A grid of pairs (left | right) titled with their score; green/red titles if labelled."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not len(left) == len(right) == len(scores):
        raise ValueError(f"{len(left)} left, {len(right)} right images and {len(scores)} scores")
    nrows = max(1, -(-len(scores) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 1.6 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, (ax, score) in enumerate(zip(axes.ravel(), scores, strict=False)):
        ax.imshow(_pair_strip(left[i], right[i]))
        color = "black"
        if labels is not None:
            color = "tab:green" if int(np.ravel(labels)[i]) == 1 else "tab:red"
        ax.set_title(f"{score_name} {score:.2f}", fontsize=9, color=color)
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_embedding_map(embeddings, labels, method: str = "pca", path: str | Path | None = None,
                       seed: int | None = 0):
    """Embeddings projected to 2-D with scikit-learn's PCA or t-SNE, one colour per label."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    embeddings, labels = np.asarray(embeddings), np.asarray(labels).ravel()
    if method == "pca":
        reducer = PCA(n_components=2, random_state=seed)
    elif method == "tsne":
        reducer = TSNE(n_components=2, perplexity=min(30.0, (len(labels) - 1) / 3), random_state=seed)
    else:
        raise ValueError(f"method={method!r}: choose 'pca' or 'tsne'")
    points = reducer.fit_transform(embeddings)
    people = np.unique(labels)
    colours = plt.get_cmap("tab10" if len(people) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for i, person in enumerate(people):
        ax.scatter(*points[labels == person].T, s=25, color=colours(i % colours.N), label=str(person))
    ax.legend(title="person", fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    ax.set(title=f"{'PCA' if method == 'pca' else 't-SNE'} of {len(labels)} embeddings", xticks=[], yticks=[])
    fig.tight_layout()
    _save(fig, path)
    return fig


def show_nearest_enrolled(queries, neighbours, distances, matches, path: str | Path | None = None):
    """Each query (first column) beside its nearest enrolled faces, titled with their distances.

    ``queries`` is ``(Q, H, W)``, ``neighbours`` ``(Q, n, H, W)``; ``distances`` and
    ``matches`` (True = same person as the query, titled green, else red) are ``(Q, n)``.
    """
    distances, matches = np.asarray(distances), np.asarray(matches, dtype=bool)
    n_queries, n = distances.shape
    fig, axes = plt.subplots(n_queries, n + 1, figsize=(1.1 * (n + 1), 1.4 * n_queries), squeeze=False)
    for row in range(n_queries):
        axes[row, 0].imshow(to_uint8_rgb(queries[row]))
        axes[row, 0].set_title("query", fontsize=9)
        for col in range(n):
            axes[row, col + 1].imshow(to_uint8_rgb(neighbours[row][col]))
            colour = "tab:green" if matches[row, col] else "tab:red"
            axes[row, col + 1].set_title(f"{distances[row, col]:.2f}", fontsize=9, color=colour)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    _save(fig, path)
    return fig


def draw_detections(image, detections) -> np.ndarray:
    """A copy of an RGB image with each face box drawn and labelled with its confidence."""
    canvas = to_uint8_rgb(image).copy()
    for face in detections:
        top_left, bottom_right = (int(face.x1), int(face.y1)), (int(face.x2), int(face.y2))
        cv2.rectangle(canvas, top_left, bottom_right, GREEN, 2)
        cv2.putText(canvas, f"{face.confidence:.2f}", (top_left[0], max(12, top_left[1] - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, GREEN, 1, cv2.LINE_AA)
        for point in face.landmarks or ():
            cv2.circle(canvas, (int(point[0]), int(point[1])), 2, RED, -1)
    return canvas


def show_triplets(anchors, positives, negatives, d_ap, d_an, path: str | Path | None = None):
    """The course's prediction figure: one row per triplet, titled with d(a, p) and d(a, n).

    A row's distances are green when the anchor is closer to its positive than to its
    negative (the triplet is ranked correctly), red otherwise.
    """
    d_ap, d_an = np.ravel(d_ap), np.ravel(d_an)
    fig, axes = plt.subplots(len(d_ap), 3, figsize=(4.2, 1.5 * len(d_ap)), squeeze=False)
    for row in range(len(d_ap)):
        colour = "tab:green" if d_ap[row] < d_an[row] else "tab:red"
        titles = ("anchor", f"positive  d={d_ap[row]:.2f}", f"negative  d={d_an[row]:.2f}")
        for col, (images, title) in enumerate(zip((anchors, positives, negatives), titles, strict=True)):
            axes[row, col].imshow(to_uint8_rgb(images[row]))
            axes[row, col].set_title(title, fontsize=8, color="black" if col == 0 else colour)
            axes[row, col].axis("off")
    fig.tight_layout()
    _save(fig, path)
    return fig


def plot_roc_curves(curves: Mapping[str, tuple], path: str | Path | None = None):
    """ROC curves (scikit-learn) of named ``(distances, labels)``, false accept rate on a log axis."""
    from sklearn.metrics import auc, roc_curve

    if not curves:
        raise ValueError("plot_roc_curves needs at least one named (distances, labels) curve")
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    counts = {}
    for name, (distances, labels) in curves.items():
        counts[name] = len(np.ravel(labels))
        fpr, tpr, _ = roc_curve(np.ravel(labels), -np.ravel(distances))
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
    # the title counts every curve's pairs, not only those of the last curve drawn
    sizes = sorted(set(counts.values()))
    pairs = f"{sizes[0]:,} pairs" if len(sizes) == 1 else f"{' / '.join(f'{n:,}' for n in sizes)} pairs"
    ax.set(xscale="log", xlim=(1e-3, 1), ylim=(0, 1.01), xlabel="false accept rate",
           ylabel="true accept rate", title=f"LFW verification, {pairs}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    _save(fig, path)
    return fig
