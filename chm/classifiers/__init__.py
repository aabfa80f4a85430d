"""Stage classifiers of the hierarchy and the training loop they share."""
from .ldnn import LDNNStage
from .logistic import LogisticStage
from .sgd import train_stage

STAGES = {"ldnn": LDNNStage, "logistic": LogisticStage}


def make_stage(kind, n_classes, n_groups=8, n_disc=8):
    """A fresh stage classifier of the given kind."""
    if kind == "ldnn":
        return LDNNStage(n_classes, n_groups=n_groups, n_disc=n_disc)
    if kind == "logistic":
        return LogisticStage(n_classes)
    raise ValueError(f"unknown classifier {kind!r}; choose from {sorted(STAGES)}")


__all__ = ["LDNNStage", "LogisticStage", "make_stage", "train_stage"]
