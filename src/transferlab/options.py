"""Command-line options shared by several sub-commands (dataset, model, device)."""
from __future__ import annotations

import argparse

from transferlab.data.images import DEFAULT_MAX_PIXELS


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument("--data", help="fashion-mnist, a folder (class sub-folders, or train/ + val|test/), or a CSV path,label[,split]")
    g.add_argument("--test-fraction", type=float, default=0.2,
                   help="held-out fraction when the data has no test split (stratified; default %(default)s)")
    g.add_argument("--seed", type=int, default=0, help="random seed for splits and subsets (default %(default)s)")
    g.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="balanced subset: N images per class (of train and, for fashion-mnist, of test)")
    g.add_argument("--train-list", help="MIT67-style list of CLASS/FILE lines for train (with --test-list, --images)")
    g.add_argument("--test-list", help="MIT67-style list of CLASS/FILE lines for test")
    g.add_argument("--images", help="folder the --train-list/--test-list paths are relative to")
    g.add_argument("--strict", action="store_true", help="stop at the first unreadable image instead of skipping it")
    g.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse images with more pixels (decompression-bomb protection; default %(default)s)")
    g.add_argument("--workers", type=int, default=None,
                   help="DataLoader worker processes (default: the number of CPUs, at most 8; when fine-tuning on "
                        "the CPU with <= 2 cores, images already in memory are augmented in the training process)")


def load_data_from_args(args):
    from transferlab.data.datasets import load_dataset
    from transferlab.errors import BadInputError

    if not args.data and not args.train_list:
        raise BadInputError("no dataset: give --data (e.g. --data fashion-mnist) or --train-list/--test-list/--images")
    return load_dataset(args.data, test_fraction=args.test_fraction, seed=args.seed, per_class=args.per_class,
                        train_list=args.train_list, test_list=args.test_list, images=args.images)


def add_model_arguments(p: argparse.ArgumentParser, default: str = "efficientnet_lite0") -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=default,
                   help="backbone: an offline model (efficientnet_lite0/1/2, mobilenet_v2), timm:NAME or torchvision:NAME "
                        "(default %(default)s; `transferlab models` lists them)")
    g.add_argument("--weights", help="load this state dict (.pth/.pt/.safetensors) instead of the default weights")
    g.add_argument("--image-size", type=int, default=None,
                   help="input size in pixels (default: the model's own; resize/crop ratio kept)")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def pick_device(name: str | None):
    import torch

    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_workers(requested: int | None) -> int:
    import os

    if requested is not None:
        return max(0, requested)
    return min(os.cpu_count() or 1, 8)
