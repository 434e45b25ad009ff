"""Evaluation: an attribute classifier trained on real clips judges generated ones (accuracy, diversity).

CLI: `python -m t2v.evaluation train-classifier ...` and `python -m t2v.evaluation evaluate ...`.
"""
from .classifier import AttributeClassifier, ClassifierConfig, classify, load_classifier
from .metrics import diversity, evaluate_pipeline, label_accuracy, mean_pairwise_l1
from .train import train_classifier

__all__ = [
    "AttributeClassifier", "ClassifierConfig", "classify", "diversity", "evaluate_pipeline", "label_accuracy",
    "load_classifier", "mean_pairwise_l1", "train_classifier",
]
