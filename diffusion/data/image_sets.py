"""The image sets the UNet priors are trained on, by name (``python -m diffusion.train_prior``).

``digits16``: the 1258 ``train`` digits of :func:`diffusion.data.digits.digits16` (16 x 16,
no flips: a mirrored 2 or 7 is not a digit). ``patches32``: ``n_patches`` 32 x 32 patches
of the fit photographs (:func:`diffusion.data.patches.patch_dataset`), with random
horizontal flips. ``patches32rgb``: the same with RGB patches of the colour fit photographs
(``colour=True``). All in the project's pixel range [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["TRAINING_SETS", "load_training_data"]

#: Names of the training sets (those of the registered UNet priors,
#: :data:`diffusion.priors.unet.PRIOR_SHAPES`, which holds their image shapes).
TRAINING_SETS: tuple[str, ...] = ("digits16", "patches32", "patches32rgb")


def load_training_data(name: str, *, n_patches: int = 20000, seed: int = 0):
    """Training images of a named set as a float32 tensor ``[N, C, S, S]`` in [-1, 1].

    Parameters
    ----------
    name : {"digits16", "patches32", "patches32rgb"}
    n_patches : int
        Number of patches of ``patches32`` / ``patches32rgb``.
    seed : int
        Seed of the digits' split / of the patch positions (the project's fixed data: 0).

    Returns
    -------
    data : tensor [N, C, S, S] (C = 3 for ``patches32rgb``, else 1)
    flips : bool
        Whether random horizontal flips are a valid augmentation.
    meta : dict
        Data settings for ``train_config.json``.
    """
    if isinstance(n_patches, bool) or not isinstance(n_patches, (int, np.integer)) or n_patches < 1:
        raise ValueError(f"n_patches: expected an integer >= 1, got {n_patches!r:.40}")
    # The "source" strings keep the module paths of the time the shipped priors were trained:
    # they are part of the settings a resumed run must match.
    if name == "digits16":
        from diffusion.data.digits import digits16

        x, _ = digits16("train", seed=seed)
        meta = {"data": name, "source": "diffusion.digits.digits16('train')", "split_seed": seed}
        flips = False
    elif name == "patches32":
        from diffusion.data.patches import patch_dataset

        x = patch_dataset("fit", n_patches, size=32, seed=seed)
        meta = {
            "data": name,
            "source": f"diffusion.images.patch_dataset('fit', {n_patches}, size=32, seed={seed})",
            "n_patches": n_patches,
        }
        flips = True
    elif name == "patches32rgb":
        from diffusion.data.patches import patch_dataset

        x = patch_dataset("fit", n_patches, size=32, seed=seed, colour=True)
        meta = {
            "data": name,
            "source": "diffusion.data.patches.patch_dataset("
            f"'fit', {n_patches}, size=32, seed={seed}, colour=True)",
            "n_patches": n_patches,
        }
        flips = True
    else:
        raise ValueError(f"name: expected one of {', '.join(TRAINING_SETS)}, got {name!r}")
    data = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if data.ndim == 3:  # grey [N, S, S] -> [N, 1, S, S]
        data = data.unsqueeze(1)
    data = data.contiguous()
    meta.update(n_images=int(data.shape[0]), shape=list(data.shape[1:]), flips=flips)
    return data, flips, meta
