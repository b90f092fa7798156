"""Chapter 04b's in-batch recipes, chosen on the validation pairs: unit-length embeddings or not, and the
peak learning rate, each trained with the chapter's full budget (7 epochs, batch 256) on MNIST.

    python 04_contrastive-loss/recipe_search.py [--head distance|sigmoid] [--quick]

``--head distance``: the contrastive loss; ``--head sigmoid``: binary cross-entropy (whose head
learns its own scale, so without unit length).
Prints one row per recipe: validation ROC AUC and the validation accuracy at the threshold chosen on
the validation pairs. The test pairs are not loaded into any score here.
"""

from __future__ import annotations

import argparse
import time

from pyimagesearch.quiet import import_keras

# (unit length, peak learning rate) for each head
RECIPES = {"distance": [(True, 2e-3), (True, 5e-3), (False, 5e-3)], "sigmoid": [(False, 2e-3), (False, 5e-3)]}


def main() -> None:
    """Train each recipe and print its validation scores."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--head", choices=sorted(RECIPES), default="distance", help="which loss (distance)")
    parser.add_argument("--quick", action="store_true", help="quick mode's subset and budget")
    args = parser.parse_args()
    keras = import_keras()
    from pyimagesearch import digits, metrics
    from pyimagesearch.models import build_improved_extractor

    splits = digits.load_digit_splits("mnist", args.quick)
    epochs, batch_size = digits.budget("in-batch", args.quick)
    val, labels = splits["val"], splits["val"].pair_labels
    print(f"head {args.head}\n| unit length | peak rate | val ROC AUC | val accuracy | minutes |")
    print("|---|---|---|---|---|")
    for unit_length, rate in RECIPES[args.head]:
        keras.utils.set_random_seed(42)
        start = time.perf_counter()
        model, _ = digits.train_in_batch(build_improved_extractor(normalize=unit_length), args.head,
                                         splits["train"], epochs, batch_size, verbose=0, peak_rate=rate)
        scores, larger = digits.predict_pairs(model, val), args.head == "sigmoid"
        threshold = metrics.best_threshold(scores, labels, larger)
        print(f"| {unit_length} | {rate:g} | {metrics.roc_auc(scores, labels, larger):.5f} | "
              f"{metrics.accuracy_at(scores, labels, threshold, larger):.2%} | "
              f"{(time.perf_counter() - start) / 60:.1f} |", flush=True)


if __name__ == "__main__":
    main()
