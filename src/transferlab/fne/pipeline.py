"""The FNE pipeline, written once: dataset -> backbone and taps -> features (cached) -> probe -> run folder.

``embed`` and ``fne`` are what ``transferlab embed`` / ``transferlab fne``, the sweep and the Python
API (``tl.embed``, ``tl.fne``) all call.  Every option is validated by the config before any work;
the dataset, the model name and the layer spec are checked before the run folder is touched.
"""
from __future__ import annotations

import sys
from pathlib import Path


from transferlab import io as tio
from transferlab.fne.config import EmbedConfig, FNEConfig, ProbeConfig
from transferlab.fne.results import PROBE_FILE, EmbedResult, FNERun
from transferlab.data.config import make_config
from transferlab.runs import RunFolder, default_run_dir, write_metrics


def load_data(config, splits=None):
    """The dataset of ``config`` (or the one given), as ``DataSplits``."""
    if splits is not None:
        return splits
    from transferlab.data.sources import load_dataset

    return load_dataset(**config.dataset_options())


def _log(config, msg: str) -> None:
    if not config.quiet:
        print(msg, file=sys.stderr, flush=True)


def prepare(config, splits=None, backbone=None):
    """Everything checked before a run folder is touched: the dataset, the backbone, the layer spec."""
    from transferlab.models.registry import create_backbone
    from transferlab.models.taps import resolve_layers

    splits = load_data(config, splits)
    backbone = backbone or create_backbone(config.model, weights=config.weights)
    size = backbone.preprocessing.with_size(config.image_size).input_size
    taps = resolve_layers(backbone, config.layers, size=size)
    return splits, backbone, taps


def tap_family(config, backbone) -> dict:
    """``--layers auto``: the tap sets it chooses among (``transferlab.models.taps.FAMILY``)."""
    from transferlab.models.taps import family

    return family(backbone, backbone.preprocessing.with_size(config.image_size).input_size)


def write_features(folder: Path, result: EmbedResult) -> None:
    """``features-train.npz``, ``features-test.npz`` (hard links to the cache when possible) and ``embed.json``."""
    from transferlab.fne.store import cache_path, link_or_copy

    for name in ("train", "test"):
        target = folder / f"features-{name}.npz"
        fs = getattr(result, name)
        key = result.cache_keys.get(name)
        if result.config.use_cache and key and cache_path(key).is_file():
            link_or_copy(cache_path(result.cache_keys[name]), target)
        else:
            fs.save(target)
    splits = result.splits
    tio.write_json(folder / "embed.json", {
        "model": result.model, "weights": result.train.meta.get("weights"), "layers": result.config.layers,
        "n_layers": result.n_layers, "dim": result.dim, "preprocessing": result.preprocessing.to_dict(),
        "dataset": splits.summary(), "classes": splits.classes, "n_train": result.n_train, "n_test": result.n_test,
        "backend": result.train.meta.get("backend"), "precision": result.config.precision,
        "skipped": result.skipped, "ignored": splits.ignored, "cached": result.cached,
        "seconds": round(result.seconds, 3)})


def check_training_features(result: EmbedResult) -> list[str]:
    """Every class must keep a readable training image; few images or an unmeasurable class are warnings."""
    from transferlab.data.checks import check_split

    classes = result.splits.classes
    train = check_split(classes, result.train.labels, result.train.skipped, split=result.splits.train, kind="train")
    test = check_split(classes, result.test.labels, result.test.skipped, split=result.splits.test, kind="test")
    return train.warnings + test.warnings


def embed(data=None, config: EmbedConfig | None = None, *, backbone=None, **options) -> EmbedResult:
    """Train and test features of the tapped layers (from the cache when they were extracted before).

    With ``out``, the run folder gets ``features-train.npz``, ``features-test.npz`` and ``embed.json``.
    """
    from transferlab.fne.extract import extract_features

    config, splits = make_config(EmbedConfig, config, data, options)
    folder = RunFolder(config.out, "embed", config, overwrite=config.overwrite) if config.out else None
    if folder is not None:
        folder.preflight()  # a folder that must not be used is refused before any work
    splits, backbone, taps = prepare(config, splits, backbone)
    if folder is None:
        return extract_features(config, splits, backbone, taps)
    with folder as run:
        result = extract_features(config, splits, backbone, taps)
        write_features(run.path, result)
        result.run_dir = run.path
        run.summary = {"n_train": result.n_train, "n_test": result.n_test, "dim": result.dim}
    return result


def fne(data=None, config: FNEConfig | None = None, *, backbone=None, features: EmbedResult | None = None,
        save_features: bool = True, **options) -> FNERun:
    """Extract (or reuse ``features``), post-process, train the linear SVM, evaluate, write the run folder.

    ``out`` defaults to ``runs/fne-DATA-MODEL-LAYERS-TIME``.  ``save_features=False`` leaves the features
    out of the folder (a sweep's runs: they stay in the cache).  Returns an ``FNERun``.
    """
    from transferlab.fne.extract import extract_features
    from transferlab.fne.probe import run_probe, save_probe

    config, splits = make_config(FNEConfig, config, data, options)
    out = config.out or str(default_run_dir("fne", config.data or config.train_list, config.model, config.layers))
    folder = RunFolder(out, "fne", config.replace(out=out), overwrite=config.overwrite)
    folder.preflight()  # a folder that must not be used is refused before any work
    if features is None:
        splits, backbone, taps = prepare(config, splits, backbone)
    else:
        splits, taps = features.splits, features.taps
    with folder as run:
        result = features if features is not None else extract_features(config, splits, backbone, taps)
        warnings = check_training_features(result)
        for w in warnings:
            _log(config, f"warning: {w}")
        if save_features:
            write_features(run.path, result)
        extra = {"model": result.model, "dataset": splits.name, "layers_spec": config.layers,
                 "extract_seconds": round(result.seconds, 2), "cached": result.cached, "run": str(run.path),
                 "ignored": splits.ignored, "warnings": warnings}
        candidates = tap_family(config, backbone or result.backbone) if config.layers.strip() == "auto" else None
        metrics, probe = run_probe(result.train, result.test, run.path, config, extra, progress=not config.quiet,
                                   candidates=candidates)
        save_probe(probe, run.path / PROBE_FILE)
        metrics["files"]["probe"] = str(run.path / PROBE_FILE)
        write_metrics(run.path, metrics)
        run.summary = {k: metrics[k] for k in ("accuracy", "mean_class_accuracy", "n_train", "n_test", "dim")}
    return FNERun(config=config.replace(out=out), metrics=metrics, probe=probe, features=result,
                  run_dir=Path(out))


def probe(run: str | Path | None = None, config: ProbeConfig | None = None, **options) -> FNERun:
    """The probe alone, on the features of an ``embed`` (or ``fne``) run folder; the report goes to
    ``out`` (default: the run folder itself)."""
    from transferlab.errors import BadInputError
    from transferlab.fne.probe import run_probe, save_probe
    from transferlab.fne.store import FeatureSet
    from transferlab.runs import require_complete

    if run is not None:
        options["run"] = str(run)
    config = config.replace(**options) if config is not None else ProbeConfig(**options)
    folder = Path(config.run)
    manifest = require_complete(folder, ("embed", "fne"), "run `transferlab embed --out RUN ...` first")
    files = [folder / "features-train.npz", folder / "features-test.npz"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BadInputError(f"{folder} is not a complete embed run (missing {', '.join(missing)}); "
                            "run `transferlab embed --out RUN ...` first")
    train, test = FeatureSet.load(files[0]), FeatureSet.load(files[1])
    if config.layers:
        names = [n.strip() for n in config.layers.split(",") if n.strip()]
        train, test = train.select(names), test.select(names)
    out = Path(config.out) if config.out else folder
    same = out.resolve() == folder.resolve()
    extra = {"run": str(folder), "model": train.meta.get("model"), "dataset": train.meta.get("dataset")}
    # into the embed run itself: that run's folder is extended, not replaced
    with RunFolder(out, manifest.get("command") or "embed" if same else "probe", config,
                   overwrite=config.overwrite, reuse=same) as folder_run:
        metrics, fitted = run_probe(train, test, folder_run.path, config, extra, progress=not config.quiet)
        save_probe(fitted, folder_run.path / PROBE_FILE)
        write_metrics(folder_run.path, metrics)
        folder_run.summary = {k: metrics[k] for k in ("accuracy", "mean_class_accuracy", "n_train", "n_test", "dim")}
        if same:
            folder_run.config = manifest.get("config") or {}
            folder_run.extra["probe"] = config.to_dict()
    return FNERun(config=FNEConfig(**{k: v for k, v in (manifest.get("config") or {}).items()
                                      if k in FNEConfig.model_fields}),
                  metrics=metrics, probe=fitted, run_dir=out)
