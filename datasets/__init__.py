"""Video datasets of TwoStreamVAN: a name -> loader registry.

    ds = build_dataset(name, dataroot, split, video_length=10, every_nth=1, image_size=64,
                       crop=True, miniclip=False, textroot=None, **extra)
    ds[i] -> {'video': FloatTensor [3, T, H, W] in [-1, 1], 'label': int, 'actor': int (-1 unknown), 'name': str}

Randomness (clip starts, crop offsets) uses NumPy's global RNG; see `datasets.clips`.
"""
import importlib
import inspect

from .errors import DatasetError, logger

# name -> (module, class, class-list attribute or None when classes come from the data)
_REGISTRY = {
    "Weizmann": ("weizmann", "WeizmannDataset", "ACTIONS"),
    "MUG": ("mug", "MUGDataset", "ACTIONS"),
    "SynAction": ("synaction", "SynActionDataset", "ACTIONS"),
    "VoxCeleb": ("voxceleb", "VoxCelebDataset", None),
    "folder": ("folder", "FolderDataset", None),
    "synthetic": ("synthetic", "SyntheticDataset", "CLASSES"),
}
DATASET_NAMES = tuple(_REGISTRY)
_COMMON = ("dataroot", "split", "video_length", "every_nth", "image_size", "crop", "textroot", "self")
_INTERNAL = ("classes", "actors", "actor_of")  # constructor arguments reserved for subclasses


def _lookup(name):
    """Module, class and class-list attribute registered for `name`; raises DatasetError if unknown."""
    if name not in _REGISTRY:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(DATASET_NAMES)})")
    module_name, class_name, attr = _REGISTRY[name]
    module = importlib.import_module(f".{module_name}", __name__)
    return module, getattr(module, class_name), attr


def dataset_options(name):
    """Loader-specific keyword options accepted by dataset `name`; returns a tuple of str."""
    _, cls, _ = _lookup(name)
    params = inspect.signature(cls.__init__).parameters
    return tuple(p for p in params if p not in _COMMON + _INTERNAL)


def dataset_classes(name):
    """Action names of dataset `name` known without reading data; returns list[str] or None (from the data)."""
    if name in _REGISTRY and _REGISTRY[name][2] is None:
        return None
    module, _, attr = _lookup(name)
    return list(getattr(module, attr))


def build_dataset(name, dataroot, split, video_length=10, every_nth=1, image_size=64, crop=True,
                  miniclip=False, textroot=None, **extra):
    """Build the loader registered as `name` for `split` ('train'|'test'); returns a torch Dataset.

    Items are dicts (see module docstring); `extra` holds loader-specific options
    (`dataset_options(name)`); anything unusable raises DatasetError with a one-line message.
    """
    _, cls, _ = _lookup(name)
    accepted = dataset_options(name)
    unknown = sorted(set(extra) - set(accepted))
    if unknown:
        raise DatasetError(f"unknown option(s) {', '.join(unknown)} for dataset {name!r} "
                           f"(accepted: {', '.join(accepted) or 'none'})")
    kwargs = dict(video_length=video_length, every_nth=every_nth, image_size=image_size,
                  crop=crop, textroot=textroot, **extra)
    if "miniclip" in inspect.signature(cls.__init__).parameters:
        kwargs["miniclip"] = miniclip
    elif miniclip:
        logger.warning("miniclip is only used by the Weizmann loader; ignored for %r", name)
    return cls(dataroot, split, **kwargs)


__all__ = ["build_dataset", "dataset_classes", "dataset_options", "DatasetError", "DATASET_NAMES"]
