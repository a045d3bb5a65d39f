"""A run directory (``dynalign train --out RUN``): the one place that knows its files.

::

    RUN/model.dlw            the weight image (:class:`dynalign.sw.image.WeightImage`)
    RUN/manifest.json        the image's manifest, readable without dynalign
    RUN/readmemh/            ``$readmemh`` files of the image for HDL simulators
    RUN/transform.npz        the feature transform (:class:`dynalign.sw.features.FeatureTransform`)
    RUN/float_model.pt       the float network the image was quantised from
    RUN/ann.pt               the MLP baseline on the same features
    RUN/run.json             {"data": how to reload the splits, "options", "history"}
    RUN/metrics.json         training and test figures
    RUN/training_curve.png   loss and validation accuracy per epoch

Every reader goes through :class:`RunDir`: the image and the transform are checked
against each other (the image records the transform's SHA-256), and :meth:`RunDir.split`
reloads exactly the data split the run was trained and scored on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dynalign.constraints.boards import board_spec, limits_for_images
from dynalign.hw.wire import parse_image

from .data import Dataset, load_dataset
from .features import FeatureTransform
from .image import WeightImage

__all__ = ["RunDir", "SPLITS", "device_image", "run_codes", "limits_for_run"]

#: The data splits of a run.
SPLITS = ("train", "val", "test")


class RunDir:
    """The files of one run directory (see the module docstring)."""

    IMAGE = "model.dlw"
    MANIFEST = "manifest.json"
    TRANSFORM = "transform.npz"
    FLOAT_MODEL = "float_model.pt"
    ANN = "ann.pt"
    RUN = "run.json"
    METRICS = "metrics.json"
    CURVE = "training_curve.png"
    READMEMH = "readmemh"

    def __init__(self, path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """The path of one of the run's files (``RunDir.IMAGE``, ...)."""
        return self.path / name

    # -- writing --------------------------------------------------------------------
    @classmethod
    def create(cls, path) -> RunDir:
        """A run directory at ``path`` (made if missing)."""
        run = cls(path)
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    def write_json(self, name: str, value) -> None:
        self.file(name).write_text(json.dumps(value, indent=2) + "\n")

    def write_model(self, image: WeightImage, transform: FeatureTransform) -> None:
        """The image, its manifest and ``$readmemh`` files, and the feature transform."""
        if image.transform_sha256 != transform.digest():
            raise ValueError("the weight image records another feature transform")
        transform.save(self.file(self.TRANSFORM))
        image.save(self.file(self.IMAGE))
        self.write_json(self.MANIFEST, image.manifest())
        image.write_readmemh(self.file(self.READMEMH))

    def write_info(self, *, data: dict, options: dict, history: dict) -> None:
        """``run.json``: ``data`` holds the :func:`dynalign.sw.data.load_dataset`
        arguments that reload the run's splits."""
        self.write_json(self.RUN, {"data": data, "options": options, "history": history})

    # -- reading --------------------------------------------------------------------
    def _check(self) -> None:
        if not self.path.is_dir():
            raise FileNotFoundError(f"run directory not found: {self.path}")
        if not self.file(self.RUN).is_file():
            raise FileNotFoundError(f"{self.path} is not a dynalign run (no {self.RUN})")

    def info(self) -> dict:
        """``run.json``."""
        self._check()
        return json.loads(self.file(self.RUN).read_text())

    def image(self) -> WeightImage:
        """The weight image (magic, version, size and CRC checked)."""
        self._check()
        return WeightImage.load(self.file(self.IMAGE))

    def metrics(self) -> dict:
        return json.loads(self.file(self.METRICS).read_text())

    def load(self) -> tuple[dict, WeightImage, FeatureTransform]:
        """``(run_info, image, transform)``, the transform checked against the image."""
        info = self.info()
        image = self.image()
        transform = FeatureTransform.load(self.path / image.transform_file)
        if transform.digest() != image.transform_sha256:
            raise ValueError(f"{self.path / image.transform_file} is not the feature "
                             f"transform the image was trained with (SHA-256 differs)")
        return info, image, transform

    def dataset(self, *, name: str | None = None, data_dir=None, path=None) -> Dataset:
        """The run's dataset with its own seed and split fractions; ``name`` /
        ``data_dir`` / ``path`` point it at other data of the same input size (the
        run's ``limit`` then no longer applies)."""
        d = self.info()["data"]
        name = name or d["dataset"]
        same = name == d["dataset"]
        return load_dataset(name, data_dir=data_dir or (d.get("data_dir") if same else None),
                            path=path or (d.get("data_path") if same else None),
                            seed=d["seed"], test_fraction=d["test_fraction"],
                            val_fraction=d["val_fraction"],
                            limit=d.get("limit") if same else None)

    def split(self, split: str = "test", **data) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of one split (``"train"``, ``"val"`` or ``"test"``) of
        :meth:`dataset`."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
        ds = self.dataset(**data)
        return getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")


def device_image(run) -> bytes:
    """The device image of a run directory or of a weight-image file (checked: magic,
    version, size and CRC; a bad file raises a clear error)."""
    path = Path(run)
    if path.is_file():
        return WeightImage.load(path).payload()
    if not path.is_dir():
        raise FileNotFoundError(f"no such run directory or weight image: {path}")
    return RunDir(path).image().payload()


def run_codes(run, *, split: str = "test"):
    """``(image_bytes, codes, labels)`` of a run directory: the feature codes of one of
    its data splits; a bare weight-image file has no data (``codes``, ``labels`` None)."""
    path = Path(run)
    if not path.is_dir():
        return device_image(path), None, None
    rd = RunDir(path)
    _, image, transform = rd.load()
    x, y = rd.split(split)
    return image.payload(), transform.codes(x), y


def limits_for_run(run, *, board: str, lanes: int | None = None, max_payload: int = 256):
    """The limits that hold exactly RUN's model on ``board`` (its lanes by default)."""
    spec = board_spec(board)
    return limits_for_images([parse_image(device_image(run))],
                             lanes=spec.lanes if lanes is None else lanes,
                             max_payload=max_payload, table=spec.table)
