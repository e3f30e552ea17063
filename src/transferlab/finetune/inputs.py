"""What the model is fed: samplers, seeded datasets, loaders, the decoded-image cache, validation split.

Every random draw of the input pipeline is seeded by (seed, epoch, image) and no loader draws
from the global RNG, so results depend neither on ``--workers`` nor on resuming.
"""
from __future__ import annotations

import math
import os

import torch

from transferlab import runtime
from transferlab.data.image_dataset import ImageDataset, SkippingLoader, collate_skipping
from transferlab.data.images import open_image
from transferlab.data.sources import DataSplits
from transferlab.data.splits import Split
from transferlab.finetune.distributed import Dist
from transferlab.finetune.prefix_cache import PrefixActivations, build_cache

EVAL_CACHE_BATCH = 256  # rows of cached prefix outputs per evaluation batch


class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(index, epoch)`` keys: a seeded permutation per epoch, sharded across ranks (padded
    so every rank runs the same number of steps).  The epoch travels with the key so augmentation
    can be seeded per (epoch, image) even in persistent workers: results do not depend on
    ``--workers`` and a resumed run sees the same images as an uninterrupted one."""

    def __init__(self, n: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.world > 1:
            per = math.ceil(self.n / self.world)
            order = (order * math.ceil(per * self.world / max(self.n, 1)))[: per * self.world]
            order = order[self.rank::self.world]
        return order

    def __iter__(self):
        return iter([(i, self.epoch) for i in self.indices()])

    def __len__(self) -> int:
        return math.ceil(self.n / self.world) if self.world > 1 else self.n


class _ShardSampler(torch.utils.data.Sampler):
    """Sequential, unpadded shard ``rank::world`` of ``range(n)`` (evaluation: every image once)."""

    def __init__(self, n: int, rank: int = 0, world: int = 1):
        self.idx = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


class SeededDataset(ImageDataset):
    """``ImageDataset`` whose random transforms are seeded by (seed, epoch, index)."""

    def __init__(self, *args, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = seed

    def __getitem__(self, key):
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only (the transforms draw from it): torch.manual_seed would also (re)seed the
            # CUDA generator, which fork_rng(devices=[]) does not restore, and while CUDA is not initialised
            # it records a stack trace per call, costing as much as the crop-resize itself
            torch.default_generator.manual_seed((self.seed * 1_000_003 + epoch * 100_003 + int(i)) % (2 ** 63))
            return super().__getitem__(int(i))


def make_loader(dataset, sampler, batch_size: int, workers: int, device: torch.device) -> SkippingLoader:
    """A DataLoader of ``collate_skipping`` batches; persistent workers when ``workers > 0``."""
    kw = {}
    if workers > 0:
        kw = {"num_workers": workers, "persistent_workers": True, "prefetch_factor": 4}
    # an explicit generator: creating an iterator must not draw from the global RNG (dropout uses it), else
    # results would depend on --workers (persistent iterators draw once, fresh ones every epoch)
    return SkippingLoader(torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_skipping,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0), **kw))


def augment_inline(cfg, device: torch.device) -> bool:
    """Whether training images already in memory are augmented in this process rather than by workers.

    With at most 2 CPU cores and the model on the CPU, a worker process can only run by taking a core
    from the training threads, and the straggling thread holds up every synchronised operator: the
    cheap crop-resize of an image in memory costs less in process.  Decoding from disk still goes to
    workers; so does everything when --workers is given."""
    return cfg.workers is None and device.type == "cpu" and runtime.cpu_count() <= 2


def image_cache(cfg, split: Split, loader_fn, short_side: int, interpolation: str, shared: bool,
                warnings: list[str]):
    """(ImageCache or None, note for the results): the decoded-image cache of the training split."""
    from transferlab.finetune.imagecache import ImageCache, plan

    if not cfg.cache_images:
        return None, "off: --no-cache-images"
    if loader_fn is not open_image:
        return None, "off: the images are already decoded in memory"
    budget = cfg.cache_images_gb * 2 ** 30
    p = plan(list(split.paths), short_side, budget, cfg.seed)
    need = f"{'about ' if p.estimated else ''}{p.nbytes / 2 ** 30:.2f} GiB"
    if p.nbytes > budget:
        note = f"off: it would need {need} (> --cache-images-gb {cfg.cache_images_gb:g})"
        warnings.append(f"decoded-image cache not used: {note[5:]}")
        return None, note
    if shared and hasattr(os, "statvfs") and os.path.isdir("/dev/shm"):
        st = os.statvfs("/dev/shm")
        free = st.f_bavail * st.f_frsize
        if p.nbytes > 0.5 * free:
            note = f"off: it would need {need} of shared memory, /dev/shm has {free / 2 ** 30:.2f} GiB free"
            warnings.append(f"decoded-image cache not used: {note[5:]}")
            return None, note
    cache = ImageCache(list(split.paths), p.sizes, short_side, interpolation, shared, tensors=True)
    return cache, (f"on: {len(split)} training images decoded once, kept at shorter side <= {short_side} px "
                   f"({cache.nbytes / 2 ** 20:.0f} MiB)")


def cache_batches(cache: PrefixActivations, sampler: EpochSampler, batch_size: int):
    """Training batches of cached prefix outputs in the sampler's order (no image is unreadable here)."""
    order = torch.tensor(sampler.indices(), dtype=torch.long)
    for s in range(0, len(order), batch_size):
        rows = order[s:s + batch_size]
        yield cache.feats[rows], cache.labels[rows], cache.index[rows], []


def cache_eval_batches(cache: PrefixActivations, rank: int = 0, world: int = 1):
    """Evaluation batches of cached prefix outputs: rows ``rank::world``, in order."""
    rows = torch.arange(rank, len(cache), world)
    for s in range(0, len(rows), EVAL_CACHE_BATCH):
        r = rows[s:s + EVAL_CACHE_BATCH]
        yield cache.feats[r], cache.labels[r], cache.index[r], []


def split_validation(data: DataSplits, fraction: float, seed: int) -> tuple[Split, Split]:
    """Stratified (train, val) from the training split."""
    from transferlab.data.splits import stratified_split

    return stratified_split(data.train, data.classes, fraction, seed, option="--val-fraction")


def validation_split(cfg, data: DataSplits, warnings: list[str]) -> tuple[Split, Split, str]:
    """(train, validation, description): ``--val-fraction`` of train, else the evaluation split (warned)."""
    if cfg.val_fraction:
        train_split, val_split = split_validation(data, cfg.val_fraction, cfg.seed)
        val_name = f"{cfg.val_fraction:g} of train (stratified)"
    else:
        train_split, val_split = data.train, data.test
        val_name = data.test_split_name
        warnings.append(f"validation uses the {data.test_split_name} split, which is also the evaluation split: "
                        "model selection (best epoch, early stopping) sees it; use --val-fraction for an untouched "
                        "evaluation")
    return train_split, val_split, val_name


def unreadable_headers(data: DataSplits, split: Split) -> list[tuple[int, str]]:
    """(index, reason) of the images of ``split`` whose header cannot be read (image files only)."""
    from transferlab.data.images import probe_image

    if data.loader() is not open_image:  # decoded in memory (fashion-mnist): nothing to check
        return []
    return [(i, why) for i, p in enumerate(split.paths) if (why := probe_image(p)) is not None]


class Inputs:
    """Datasets and loaders of one run, from its preprocessing, image loader, workers and device.

    Evaluation loaders are built once per (split, sharded) and reused: their workers persist."""

    def __init__(self, cfg, pre, loader_fn, device: torch.device, d: Dist):
        self.cfg, self.pre, self.loader_fn, self.device, self.dist = cfg, pre, loader_fn, device, d
        self.workers = runtime.default_workers(cfg.workers)
        self.eval_tf = pre.transform("none", normalize=False)
        self.draft_eval = pre.resize_size
        size = pre.input_size
        # a crop of RandomResizedCrop can be ~1/2 (light) or ~1/4 (strong) of the image side ... area
        self.draft_train = {"none": pre.resize_size, "light": int(math.ceil(size / math.sqrt(0.5))),
                            "strong": 2 * size}[cfg.augment]
        self.eval_batch = max(cfg.batch_size, 64)
        self.eval_loaders: dict = {}

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Workers ship uint8 images (4x less to copy); normalise the whole batch here, on the device."""
        x = x.to(self.device, non_blocking=True)
        if x.dtype == torch.uint8:
            return self.pre.normalize_batch(x)
        return x.contiguous(memory_format=torch.channels_last)

    def dataset(self, split: Split, tf, draft: int) -> SeededDataset:
        cfg = self.cfg
        return SeededDataset(split, tf, loader=self.loader_fn, max_pixels=cfg.max_pixels, draft=draft,
                             strict=cfg.strict, seed=cfg.seed)

    def eval_loader(self, split: Split, shard: bool) -> SkippingLoader:
        """Unaugmented batches of ``split``: this rank's shard, or all of it."""
        key = (id(split), shard)
        if key not in self.eval_loaders:
            d = self.dist
            sampler = _ShardSampler(len(split), d.rank if shard else 0, d.world if shard else 1)
            self.eval_loaders[key] = make_loader(self.dataset(split, self.eval_tf, self.draft_eval), sampler,
                                                 self.eval_batch, self.workers, self.device)
        return self.eval_loaders[key]

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True)

    def prefix_caches(self, cut_model, splits: dict[str, Split]) -> dict[str, PrefixActivations]:
        """The frozen prefix's outputs of every image of each split, computed once."""
        caches = {}
        for name, split in splits.items():
            loader = make_loader(self.dataset(split, self.eval_tf, self.draft_eval), _ShardSampler(len(split)),
                                 self.eval_batch, self.workers, self.device)
            caches[name] = build_cache(cut_model, loader, self.prepare)
        return caches

    def eval_batches(self, split: Split, cache: PrefixActivations | None, shard: bool):
        """(batches, prepare, skipped) to evaluate ``split``: its cached prefix outputs when ``cache`` is
        given (their unreadable images reported by one rank only), else its images."""
        if cache is None:
            return self.eval_loader(split, shard), self.prepare, []
        d = self.dist
        rank, world = (d.rank, d.world) if shard else (0, 1)
        skipped = list(cache.skipped) if (not shard or d.main) else []
        return cache_eval_batches(cache, rank, world), self.to_device, skipped

    def setup_training(self, train_split: Split, val_split: Split, cut_model, warnings: list[str]) -> None:
        """The frozen-prefix cache of train and validation when ``cut_model`` is given, else the loader
        of the training images; sets ``caches``, ``train_sampler`` and the notes for the results."""
        cfg, d = self.cfg, self.dist
        self.caches: dict[str, PrefixActivations] = {}
        self._train_loader, self.loader_note = None, "the frozen-prefix cache"
        self.image_cache_note = ("off: --no-cache-images" if not cfg.cache_images else
                                 "off: not needed (the frozen-prefix cache is used)")
        if cut_model is not None:
            self.caches = self.prefix_caches(cut_model, {"train": train_split, "val": val_split})
            self.train_sampler = EpochSampler(len(self.caches["train"]), cfg.seed, True, d.rank, d.world)
        else:
            self.train_sampler = EpochSampler(len(train_split), cfg.seed, True, d.rank, d.world)
            self._train_loader, self.image_cache_note, self.loader_note = self.train_loader(
                train_split, self.train_sampler, warnings)

    def train_batches(self, epoch: int):
        """(batches, prepare) of one training epoch on this rank: cached prefix outputs or augmented images."""
        self.train_sampler.set_epoch(epoch)
        if self.caches:
            return cache_batches(self.caches["train"], self.train_sampler, self.cfg.batch_size), self.to_device
        return self._train_loader, self.prepare

    def train_loader(self, split: Split, sampler: EpochSampler, warnings: list[str]):
        """(loader, image-cache note, loader note): augmented training batches, from the decoded-image
        cache where it fits, augmented in this process or by workers (see ``augment_inline``)."""
        cfg, pre = self.cfg, self.pre
        # strong augmentation ends with RandomErasing on the normalised tensor: those workers ship floats
        train_tf = pre.transform(cfg.augment, normalize=cfg.augment != "strong")
        train_set = self.dataset(split, train_tf, self.draft_train)
        inline = augment_inline(cfg, self.device)
        cache, cache_note = image_cache(cfg, split, self.loader_fn, max(self.draft_train, pre.resize_size),
                                        pre.interpolation, self.workers > 0 and not inline, warnings)
        if cache is not None:
            train_set.loader = cache
        in_memory = cache is not None or self.loader_fn is not open_image
        train_workers = 0 if inline and in_memory else self.workers
        loader = make_loader(train_set, sampler, cfg.batch_size, train_workers, self.device)
        loader_note = (f"{train_workers} worker processes" if train_workers else
                       "this process (images in memory, <= 2 CPU cores)" if inline else "this process (--workers 0)")
        return loader, cache_note, loader_note
