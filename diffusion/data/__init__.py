"""Data sets, all offline: the 16 x 16 digits, patches of bundled photographs, the 2-D
point sets, and the named image sets the UNet priors are trained on."""

from diffusion.data.digits import DIGIT_SPLITS, digits16, upsample
from diffusion.data.image_sets import TRAINING_SETS, load_training_data
from diffusion.data.patches import (
    EXCLUDED_IMAGES,
    FIT_IMAGES,
    SPLITS,
    TEST_IMAGES,
    extract_patches,
    load_image,
    patch_dataset,
)
from diffusion.data.toy2d import data_settings, make_data, raw_data, settings_hash

__all__ = [
    "DIGIT_SPLITS",
    "EXCLUDED_IMAGES",
    "FIT_IMAGES",
    "SPLITS",
    "TEST_IMAGES",
    "TRAINING_SETS",
    "data_settings",
    "digits16",
    "extract_patches",
    "load_image",
    "load_training_data",
    "make_data",
    "patch_dataset",
    "raw_data",
    "settings_hash",
    "upsample",
]
