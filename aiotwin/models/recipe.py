"""The training recipe of the shipped vehicle bundles: data split and hyper-parameters, as data.

Training crops come from the synthetic scenes (:func:`aiotwin.scenes.crop_dataset`) of
:data:`TRAIN_CAMERAS` rendered with :data:`TRAIN_SEEDS`; the holdouts use :data:`HOLDOUT_SEEDS`
(never used in training) on every camera, including :data:`UNSEEN_CAMERAS`, which are kept out of
training for the counting benchmark. Changing anything here changes the shipped bundles: rebuild
them with ``aiotwin models build``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from aiotwin.labels import CLASSES

TASK_REF = "aiotwin.models.vehicle:VehicleClassifier"
INPUT_SIZE = 64
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LABELS = CLASSES

TRAIN_CAMERAS: tuple[str, ...] = ("avenue", "campus", "downtown", "highway", "industrial", "residential", "rural")
# Never trained on: the counting benchmark and the holdouts use them to measure generalisation.
UNSEEN_CAMERAS: tuple[str, ...] = ("bridge", "junction")
TRAIN_SEEDS: tuple[int, ...] = tuple(range(100, 148))
HOLDOUT_SEEDS: tuple[int, ...] = (9001, 9002, 9003)
HOLDOUT_CAMERAS: tuple[str, ...] = TRAIN_CAMERAS + UNSEEN_CAMERAS
HOLDOUT_PER_CAMERA = 150
CALIBRATION_SAMPLES = 320

# Lighting/weather of the training crops: (lighting, weather, share of the samples). ``None`` keeps
# each camera's own (day, dusk, night, rain, fog all occur); "mixed" draws one per (camera, seed)
# from aiotwin.scenes' mix (day 50 %, dusk 25 %, night 25 %; clear 60 %, rain 20 %, fog 20 %).
TRAIN_CONDITIONS: tuple[tuple[str | None, str | None, float], ...] = (
    (None, None, 0.4),
    ("mixed", "mixed", 0.4),
    ("night", "rain", 0.2),
)
# The "hard" holdout: night, rain and fog renders, plus a blurred share (sigma HARD_BLUR_SIGMA px)
# of camera-default renders standing in for motion blur and a dirty or defocused lens.
HARD_CONDITIONS: tuple[tuple[str, str], ...] = (("night", "clear"), ("night", "rain"), ("day", "rain"),
                                                ("dusk", "fog"))
HARD_BLUR_SIGMA = 1.6


OPTIMIZERS = ("adamw", "sgd")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and augmentation settings of one training run."""

    epochs: int = 12
    batch_size: int = 128
    optimizer: str = "adamw"  # or "sgd" (Nesterov momentum 0.9)
    # BatchNorm normalises with its running statistics while training (they stay put): what a
    # federated client fine-tuning on its own skewed classes needs (docs/fl.md, "BatchNorm").
    freeze_bn: bool = False
    # Restricted softmax: the loss covers only the classes this store holds, so a federated client
    # without, say, bicycles does not teach the shared head that nothing is a bicycle (label skew).
    local_classes_only: bool = False
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    balance: float = 0.0  # class weights (N / (K·count))**balance in the loss; 0: unweighted
    # Augmentation: probability per crop of each transform.
    flip: float = 0.5
    crop: float = 0.0  # random resized crop of crop_scale..1 of the area
    crop_scale: float = 0.7
    rotate: float = 0.0  # rotation by up to ±rotate_deg plus a small shear
    rotate_deg: float = 15.0
    color: float = 0.8  # brightness/contrast/gain jitter
    channel_swap: float = 0.0  # random permutation of the RGB channels
    grayscale: float = 0.0
    blur: float = 0.25
    noise: float = 0.3
    threads: int = 2


@dataclass(frozen=True)
class ArchRecipe:
    """Samples and training settings for one size of the family."""

    arch: str
    samples: int
    train: TrainConfig
    input_size: int = INPUT_SIZE  # crops are H = W = this many pixels


# Both sizes train with the same augmentation on the same objects; the cloud model (~15× the
# parameters) sees them at 96×96: at 64×64 both nets reach the same ceiling (two-wheelers and
# pedestrians are 20–40 px tall in the frame). Measurements behind these choices: docs/models.md.
TRAIN_CONFIG = TrainConfig(epochs=16, crop=0.5, rotate=0.5, channel_swap=0.2, grayscale=0.1, balance=0.5)
CLOUD_INPUT_SIZE = 96
RECIPES: dict[str, ArchRecipe] = {
    "edge": ArchRecipe("edge", samples=12000, train=TRAIN_CONFIG),
    "cloud": ArchRecipe("cloud", samples=12000, train=replace(TRAIN_CONFIG, epochs=10), input_size=CLOUD_INPUT_SIZE),
}
QUICK = {"samples": 600, "epochs": 1}


def recipe_for(arch: str, *, samples: int | None = None, epochs: int | None = None,
               quick: bool = False) -> ArchRecipe:
    """The recipe of ``arch`` with optional overrides (``quick``: a minutes-long smoke build)."""
    if arch not in RECIPES:
        raise ValueError(f"unknown arch {arch!r} (known: {', '.join(RECIPES)})")
    base = RECIPES[arch]
    n = samples if samples is not None else (QUICK["samples"] if quick else base.samples)
    e = epochs if epochs is not None else (QUICK["epochs"] if quick else base.train.epochs)
    return replace(base, samples=n, train=replace(base.train, epochs=e))


__all__ = [
    "CALIBRATION_SAMPLES", "CLOUD_INPUT_SIZE", "HARD_BLUR_SIGMA", "HARD_CONDITIONS", "HOLDOUT_CAMERAS",
    "HOLDOUT_PER_CAMERA",
    "HOLDOUT_SEEDS", "INPUT_SIZE", "LABELS", "MEAN", "QUICK", "RECIPES", "STD", "TASK_REF", "TRAIN_CAMERAS",
    "TRAIN_CONDITIONS", "TRAIN_CONFIG", "TRAIN_SEEDS", "UNSEEN_CAMERAS", "ArchRecipe", "TrainConfig", "recipe_for",
]
