"""The typed configs of the FNE capability: extraction (``embed``), the probe, and the one-shot ``fne``."""
from __future__ import annotations

from typing import Literal, get_args

from pydantic import model_validator

from transferlab.data.config import DataOptions
from transferlab.models.config import EngineOptions, ModelOptions
from transferlab.schema import Config, option, quiet_option

Post = Literal["fne", "std", "l2", "none"]
POSTS = get_args(Post)
FNE_THRESHOLDS = (-0.25, 0.15)  # Garcia-Gasulla et al. 2018: > 0.15 -> 1, < -0.25 -> -1, else 0


def out_option(default_text: str):
    """The ``out`` field: the run folder (refused when it holds another run, unless ``overwrite``)."""
    return option(None, "run folder (refused when it holds another run, unless --overwrite)", runtime=True,
                  group="run", metavar="DIR", default_text=default_text)


class RunOptions(Config):
    """Where a run writes its folder, and how it talks."""

    out: str | None = out_option("a new folder under runs/")
    overwrite: bool = option(False, "replace the run already in --out (its files are removed first)", runtime=True,
                             group="run")
    quiet: bool = quiet_option("no progress bars or progress lines on stderr", group="run")


class ExtractOptions(EngineOptions):
    """Which layers are tapped, how the images are batched, and which engine runs the network."""

    layers: str = option("all", "all (every conv/FC activation: the full-network embedding), late (those of the "
                                "last third of the blocks), stages, last (pre-logits), auto (fne: the best of "
                                "all/late/stages/last by cross-validation on train), a comma list of module names "
                                "(NAME@K for the K-th call) or re:PATTERN",
                         group="extraction", metavar="SPEC")
    batch_size: int = option(32, "images per forward pass", ge=1, group="extraction")
    use_cache: bool = option(True, "read and write the feature cache", negate="--no-cache",
                             negate_help="always extract; never read or write the feature cache", runtime=True,
                             group="extraction")

    @model_validator(mode="after")
    def _layers_given(self):
        if not str(self.layers).strip():
            raise ValueError("layers (--layers) must not be empty: give all, stages, last, names or re:PATTERN")
        return self


class EmbedConfig(RunOptions, ExtractOptions, ModelOptions, DataOptions):
    """``transferlab embed`` / ``tl.embed``: pooled activations of the tapped layers, cached."""

    command = "embed"
    out: str | None = out_option("a new folder runs/embed-DATA-MODEL-LAYERS-TIME (from Python: no folder, only "
                                 "the cache)")


class ProbeOptions(Config):
    """Post-processing of the features and the linear SVM."""

    post: Post = option(
        "fne", "post-processing: fne (standardise + discretise), std, l2 or none", group="probe")
    C: float | Literal["auto"] = option(
        1.0, "regularisation C of the linear SVM (LinearSVC's objective), or auto: chosen by stratified k-fold "
             "cross-validation on the training split over 1e-4 ... 1e2 (cv.png, metrics.json)", group="probe",
        flag="--C", metavar="C|auto")
    cv_folds: int = option(5, "folds of the cross-validation behind --C auto and --layers auto (fewer when a "
                              "class has fewer training images)", ge=2, group="probe")
    solver: Literal["auto", "newton", "liblinear"] = option(
        "auto", "how the SVM is solved: newton (every class at once by Newton's method in torch; the same "
                "problem as LinearSVC, many times faster with many classes), liblinear (scikit-learn's LinearSVC "
                "with its defaults: the lab's and the FNE paper's reference), auto (newton up to 8192 training "
                "images, else liblinear)", group="probe")
    thresholds: tuple[float, float] = option(FNE_THRESHOLDS, "FNE discretisation thresholds", nargs=2,
                                             metavar=("LOW", "HIGH"), group="probe")
    max_iter: int = option(5000, "LinearSVC max_iter", ge=1, group="probe")
    compare: bool = option(False, "also probe every tapped layer alone: table + bar plot (compare.csv, compare.png)",
                           group="probe")
    seed: int = option(0, "random seed", ge=0, group="dataset")

    @model_validator(mode="after")
    def _C_positive(self):
        if self.C != "auto" and not self.C > 0:
            raise ValueError(f"C (--C) must be a number > 0 or auto, got {self.C:g}")
        return self

    @model_validator(mode="after")
    def _thresholds_ordered(self):
        low, high = self.thresholds
        if low > high:
            raise ValueError(f"thresholds (--thresholds) must be LOW <= HIGH, got {low} {high}")
        return self


class ProbeConfig(ProbeOptions, RunOptions):
    """``transferlab probe RUN``: the probe on the features of an ``embed`` run."""

    command = "probe"
    out: str | None = out_option("the embed run folder itself")
    run: str = option(..., "an embed (or fne) run folder", positional=True, metavar="RUN")
    layers: str | None = option(None, "use only these tapped layers (comma list of names from embed.json)",
                                group="probe", metavar="NAMES", default_text="every extracted layer")


class FNEConfig(ProbeOptions, EmbedConfig):
    """``transferlab fne`` / ``tl.fne``: extraction, post-processing and linear SVM in one run."""

    command = "fne"
    out: str | None = out_option("a new folder runs/fne-DATA-MODEL-LAYERS-TIME")

