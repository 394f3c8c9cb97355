"""Image sources for the ImageNet analyses, preprocessing as each model was trained, and seeded
augmentation.

Three sources: ``"sample"``, the 20 ImageNet validation images shipped in foolbox's package data
(``imagenet_NN_CLASS.jpg``; foolbox itself is never imported); a folder in torchvision
``ImageFolder`` layout (one sub-folder per class); or a flat folder of images plus a labels
file. Class folders named by ImageNet-1k WordNet ids (``n01440764`` ..) are labelled with their
ImageNet-1k index (:func:`wnid_index`), whichever subset of the 1000 classes is present; class
folders of any other naming scheme are numbered in sorted folder-name order (torchvision's
``ImageFolder``), and the source's description says which mapping was used.

Every image gives one *center view* (resize the shorter side, center crop, normalise: the
evaluation transform of the model's weights) and, with ``n_augment > 0``, that many *random
views*: a square crop of 60-100 % of the shorter side at a random place, resized to the crop
size, flipped left-right with probability 1/2. A view depends only on (seed, image, view), so
any chunk of views can be loaded on its own and reloads identically.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from PIL import Image, UnidentifiedImageError

from ...._optional import require
from ....errors import RetinaCodecError
from ....models.zoo import Preprocessing

TF = require("torchvision.transforms.functional", "imagenet", "the ImageNet image pipeline")
InterpolationMode = require("torchvision.transforms", "imagenet", "the ImageNet image pipeline").InterpolationMode

SAMPLE = "sample"
"""Name of the shipped sample source."""
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
CROP_FRACTION = (0.6, 1.0)
"""Side of a random crop as a fraction of the image's shorter side (low, high)."""
_SAMPLE_NAME = re.compile(r"imagenet_(\d+)_(\d+)\.jpg")
_WNID = re.compile(r"n\d{8}")
WNIDS_FILE = Path(__file__).with_name("imagenet1k_wnids.txt")
"""The 1000 ImageNet-1k WordNet ids in the standard class order (line k: class k)."""
FULL_SCALE = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}
"""White of the single-channel image modes deeper than 8 bits (16-bit and 32-bit integer, float),
which PIL's RGB conversion would clip at 255 instead of scaling."""


@dataclass(frozen=True)
class ImageSource:
    """Image files with their class indices.

    Attributes
    ----------
    paths : tuple of pathlib.Path
        One file per image, in a fixed order.
    labels : tuple of int
        0-based ImageNet class index of each image.
    description : str
        Where the images came from, for reports.
    """

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    description: str

    def fingerprint(self) -> str:
        """SHA-256 of the file names and labels (not the pixels): identifies the image list."""
        text = "\n".join(f"{p.name}\t{label}" for p, label in zip(self.paths, self.labels))
        return hashlib.sha256(text.encode()).hexdigest()


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def sample_images() -> ImageSource:
    """The 20 ImageNet validation images of foolbox's package data, labelled from their file names.

    Raises
    ------
    RetinaCodecError
        If foolbox is not installed or its data folder lacks the images.
    """
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise RetinaCodecError(
            "the ImageNet sample needs the foolbox package (its data folder holds the "
            "images); expected it installed with: pip install 'retinacodec[imagenet]'"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    found = sorted(
        (int(m.group(1)), int(m.group(2)), folder / m.group(0))
        for m in map(_SAMPLE_NAME.fullmatch, os.listdir(folder) if folder.is_dir() else [])
        if m
    )
    if not found:
        raise RetinaCodecError(f"no imagenet_NN_CLASS.jpg images in {folder}; expected foolbox's package data")
    return ImageSource(
        tuple(p for _, _, p in found),
        tuple(label for _, label, _ in found),
        f"foolbox ImageNet sample ({len(found)} validation images)",
    )


@functools.cache
def wnid_index() -> dict[str, int]:
    """WordNet id -> ImageNet-1k class index (0..999), from :data:`WNIDS_FILE`."""
    lines = [line.strip() for line in WNIDS_FILE.read_text().splitlines()]
    return {wnid: index for index, wnid in enumerate(line for line in lines if line and not line.startswith("#"))}


def folder_labels(names: Sequence[str]) -> tuple[list[int], str]:
    """Class index of each class-folder name, and the mapping used.

    Parameters
    ----------
    names : sequence of str
        Class-folder names, sorted.

    Returns
    -------
    labels : list of int
        The ImageNet-1k index of each WordNet id when every name is one; otherwise the position
        of each name in ``names`` (torchvision ``ImageFolder`` numbering).
    mapping : str
        ``"ImageNet-1k WordNet ids"`` or ``"sorted folder position"``.

    Raises
    ------
    RetinaCodecError
        If some names look like WordNet ids and others do not, or a WordNet id is not one of the
        ImageNet-1k classes: no consistent scheme.
    """
    index = wnid_index()
    looks = [bool(_WNID.fullmatch(name)) for name in names]
    if not any(looks):
        return list(range(len(names))), "sorted folder position"
    odd = [name for name, wnid in zip(names, looks) if not wnid or name not in index]
    if odd:
        raise RetinaCodecError(
            f"class folders {', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} are not ImageNet-1k WordNet ids while "
            f"{sum(looks) - len([n for n in odd if _WNID.fullmatch(n)])} others are; expected every class folder "
            "named by an ImageNet-1k WordNet id (n01440764 ..), or none (then folders are numbered in sorted order)"
        )
    return [index[name] for name in names], "ImageNet-1k WordNet ids"


def _image_folder(root: Path, class_dirs: list[Path]) -> ImageSource:
    class_labels, mapping = folder_labels([d.name for d in class_dirs])
    paths, labels = [], []
    for label, class_dir in zip(class_labels, class_dirs):
        files = sorted(p for p in class_dir.iterdir() if _is_image(p))
        paths += files
        labels += [label] * len(files)
    return ImageSource(
        tuple(paths),
        tuple(labels),
        f"{root} (ImageFolder layout, {len(class_dirs)} class folders, labels from {mapping})",
    )


def _read_labels(labels_file: Path, root: Path) -> ImageSource:
    if not labels_file.is_file():
        raise RetinaCodecError(f"labels file not found: {labels_file} (expected lines 'FILE_NAME CLASS_INDEX')")
    paths, labels = [], []
    for number, line in enumerate(labels_file.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"[,\s]+", line)
        if len(parts) != 2 or not parts[1].isdigit():
            raise RetinaCodecError(
                f"{labels_file} line {number}: {line!r}; expected 'FILE_NAME CLASS_INDEX' "
                "(whitespace or comma separated, class index a non-negative integer)"
            )
        path = root / parts[0]
        if not _is_image(path):
            raise RetinaCodecError(
                f"{labels_file} line {number}: no image {path}; expected a file of the folder "
                f"with one of the suffixes {', '.join(IMAGE_SUFFIXES)}"
            )
        paths.append(path)
        labels.append(int(parts[1]))
    return ImageSource(tuple(paths), tuple(labels), f"{root} (labels from {labels_file.name})")


def find_images(images: str | os.PathLike = SAMPLE, labels: str | os.PathLike | None = None) -> ImageSource:
    """Find the images of a source and their labels.

    Parameters
    ----------
    images : str or path-like
        ``"sample"``; a folder with one sub-folder of images per class (``ImageFolder`` layout);
        or a flat folder of images, which then needs ``labels``.
    labels : str or path-like, optional
        For a flat folder: a text file of lines ``FILE_NAME CLASS_INDEX`` (whitespace or comma
        separated, 0-based class indices, ``#`` comments); only the listed files are used.

    Returns
    -------
    ImageSource

    Raises
    ------
    RetinaCodecError
        If the folder does not exist, holds no images, a flat folder comes without labels file,
        or the labels file is malformed or names missing files.
    """
    if isinstance(images, str) and images == SAMPLE:
        if labels is not None:
            raise RetinaCodecError("the sample images are labelled by their file names; expected no labels file")
        return sample_images()
    root = Path(images)
    if not root.is_dir():
        raise RetinaCodecError(f"image folder not found: {root} (expected 'sample' or a folder of images)")
    try:
        if labels is not None:
            source = _read_labels(Path(labels), root)
        else:
            class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            if not class_dirs and any(_is_image(p) for p in root.iterdir()):
                raise RetinaCodecError(
                    f"{root} holds images but no class sub-folders; expected a labels file "
                    "(lines 'FILE_NAME CLASS_INDEX') for a flat folder"
                )
            source = _image_folder(root, class_dirs)
    except OSError as exc:
        raise RetinaCodecError(
            f"cannot read the image folder {root} ({type(exc).__name__}: {exc.strerror}); "
            "expected a readable folder of images"
        ) from None
    if not source.paths:
        raise RetinaCodecError(
            f"no images found in {root}; expected files with one of the suffixes "
            f"{', '.join(IMAGE_SUFFIXES)} (in class sub-folders, or listed in a labels file)"
        )
    return source


def read_image(path: Path) -> Image.Image:
    """Decode an image file as 8-bit RGB.

    Palette, grey, grey + alpha, RGBA and CMYK images go through PIL's conversion (alpha is
    dropped); 16-bit, 32-bit integer and float grey images are scaled by their full scale
    (:data:`FULL_SCALE`: 65535, or 1 for float) to 0..255.

    Raises
    ------
    RetinaCodecError
        If the file is missing, is not a readable image, is above PIL's decompression-bomb limit,
        or a deep grey image has values outside 0..full scale.
    """
    try:
        with Image.open(path) as image:
            return _as_rgb(image, path)
    except RetinaCodecError:
        raise
    except Image.DecompressionBombError:
        raise RetinaCodecError(
            f"image {path} is larger than PIL's limit of {Image.MAX_IMAGE_PIXELS:,} pixels (a possible "
            "decompression bomb); expected a photograph-sized image (raise PIL.Image.MAX_IMAGE_PIXELS to allow it)"
        ) from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise RetinaCodecError(
            f"cannot read image {path} ({type(exc).__name__}); expected a readable image file"
        ) from None


def _as_rgb(image: Image.Image, path: Path) -> Image.Image:
    """8-bit RGB of ``image``, deep grey modes scaled by their full scale rather than clipped."""
    full = FULL_SCALE.get(image.mode)
    if full is None:
        return image.convert("RGB")
    values = np.asarray(image, dtype=np.float64)
    if values.size and not (values.min() >= 0 and values.max() <= full):
        raise RetinaCodecError(
            f"image {path} (mode {image.mode}) has values in [{values.min():g}, {values.max():g}]; "
            f"expected 0..{full:g} for that mode"
        )
    grey = np.round(values * (255.0 / full)).astype(np.uint8)
    return Image.fromarray(grey, "L").convert("RGB")


def _to_model(image: Image.Image, prep: Preprocessing) -> torch.Tensor:
    return TF.normalize(TF.to_tensor(image), list(prep.mean), list(prep.std))


def center_view(image: Image.Image, prep: Preprocessing) -> torch.Tensor:
    """The model-ready evaluation view (3, crop, crop): resize the shorter side to ``prep.resize``,
    center crop ``prep.crop`` px, normalise."""
    mode = InterpolationMode(prep.interpolation)
    resized = TF.resize(image, prep.resize, interpolation=mode, antialias=True)
    return _to_model(TF.center_crop(resized, prep.crop), prep)


def random_view(image: Image.Image, prep: Preprocessing, rng: np.random.Generator) -> torch.Tensor:
    """A model-ready random view (3, crop, crop): a square of :data:`CROP_FRACTION` of the shorter
    side at a uniformly random place, resized to ``prep.crop`` px, flipped left-right with
    probability 1/2, normalised."""
    width, height = image.size
    side = max(1, int(round(rng.uniform(*CROP_FRACTION) * min(width, height))))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    view = TF.resized_crop(
        image,
        top,
        left,
        side,
        side,
        [prep.crop, prep.crop],
        interpolation=InterpolationMode(prep.interpolation),
        antialias=True,
    )
    if rng.random() < 0.5:
        view = TF.hflip(view)
    return _to_model(view, prep)


def denormalise(views: torch.Tensor, prep: Preprocessing) -> np.ndarray:
    """Model-ready views (N, 3, y, x) back to displayable RGB (N, y, x, 3) in [0, 1]."""
    mean = torch.tensor(prep.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(prep.std).reshape(1, 3, 1, 1)
    return (views.cpu() * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def augmentations_needed(n_images: int, min_samples: int) -> int:
    """Random views per image so that images x (1 + views) reaches ``min_samples`` (0 when it does)."""
    return max(0, -(-min_samples // max(n_images, 1)) - 1)


@dataclass(frozen=True)
class Views:
    """The center view and ``n_augment`` random views of every image, image-major.

    View ``i`` is view ``i % (1 + n_augment)`` of image ``i // (1 + n_augment)``; view 0 of an
    image is its center view.

    Attributes
    ----------
    source : ImageSource
    preprocessing : Preprocessing
    n_augment : int
        Random views per image.
    seed : int
        Seed of the random views.
    """

    source: ImageSource
    preprocessing: Preprocessing
    n_augment: int
    seed: int

    def __post_init__(self) -> None:
        if isinstance(self.n_augment, bool) or not isinstance(self.n_augment, (int, np.integer)) or self.n_augment < 0:
            raise RetinaCodecError(f"n_augment is {self.n_augment!r}; expected a non-negative integer")

    @property
    def per_image(self) -> int:
        """Views per image (1 + n_augment)."""
        return 1 + int(self.n_augment)

    def __len__(self) -> int:
        return len(self.source.paths) * self.per_image

    @property
    def image(self) -> np.ndarray:
        """Image index of every view, (view,)."""
        return np.arange(len(self)) // self.per_image

    @property
    def view(self) -> np.ndarray:
        """View number within its image of every view (0: center view), (view,)."""
        return np.arange(len(self)) % self.per_image

    @property
    def labels(self) -> np.ndarray:
        """Class index of every view, (view,)."""
        return np.asarray(self.source.labels, dtype=np.int64)[self.image]

    def center(self, images: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Positions of the center views of ``images`` (all images by default)."""
        chosen = np.arange(len(self.source.paths)) if images is None else np.asarray(images, dtype=np.int64)
        return chosen * self.per_image

    def load(self, positions: Sequence[int] | np.ndarray) -> torch.Tensor:
        """Model-ready views at ``positions``, float32 (N, 3, crop, crop).

        Raises
        ------
        RetinaCodecError
            If an image file cannot be read.
        """
        images, views = self.image, self.view
        loaded: list[torch.Tensor] = []
        cached: tuple[int, Image.Image] | None = None
        for i in np.asarray(positions, dtype=np.int64):
            index = int(images[i])
            if cached is None or cached[0] != index:
                cached = (index, read_image(self.source.paths[index]))
            if views[i] == 0:
                loaded.append(center_view(cached[1], self.preprocessing))
            else:
                rng = np.random.default_rng([self.seed, index, int(views[i])])
                loaded.append(random_view(cached[1], self.preprocessing, rng))
        return torch.stack(loaded)

    def sample_coords(self) -> xr.Coordinates:
        """Coords of a ``sample`` dim over all views: the stacked index (image, view) and
        ``true_class`` (the image's label)."""
        index = pd.MultiIndex.from_arrays([self.image, self.view], names=["image", "view"])
        coords = xr.Coordinates.from_pandas_multiindex(index, "sample")
        return coords.assign(true_class=("sample", self.labels))
