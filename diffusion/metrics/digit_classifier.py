r"""A small CNN classifier of the 16 x 16 digits, whose features the perception metrics use.

:func:`load_digit_classifier` returns the shipped network
(``diffusion/weights/digit_classifier16.pt``), trained here on the ``train`` split of
:func:`diffusion.data.digits.digits16` (the epoch is chosen on ``val``; ``test`` is never seen).
It plays the role Inception-v3 plays for FID/KID on natural images: its penultimate layer
(:meth:`DigitCNN.features`, F = 64 numbers per image) is the feature space of
:func:`diffusion.metrics.perception.classifier_fd` and :func:`diffusion.metrics.perception.classifier_kid`,
and its prediction (:meth:`DigitCNN.predict`) is the semantic-fidelity measure
:func:`diffusion.metrics.perception.classifier_accuracy` (is a restored digit still the same digit?).

**Architecture** (:class:`DigitCNN`, 89 546 parameters; no batch normalisation, so train
and eval mode differ only by the dropout): input ``[B, 1, 16, 16]`` in [-1, 1];
conv 3x3 1 -> 16, ReLU; conv 3x3 16 -> 32, ReLU, max-pool 2 (8 x 8); conv 3x3 32 -> 64,
ReLU, max-pool 2 (4 x 4); flatten (1024), linear -> 64 (**the features**: these
pre-activations, divided by their root mean square over the training digits); ReLU;
dropout; linear -> 10 logits.

**Training** (:func:`train_classifier`, ``python -m diffusion.digit_classifier --train``):
cross-entropy, Adam (lr 2e-3, cosine decay), batch 64, 40 epochs, every image shifted by a
random integer offset in {-1, 0, 1}² (zero-padded in the [-1, 1] background, i.e. padded
with -1) as augmentation; the weights of the epoch with the best validation accuracy
(ties: the later epoch) are kept. Seeded: the same seed, torch build and thread count give
the same weights (retraining reproduced the shipped file bit for bit). About 15-25 s on one
CPU core. The shipped network: 99.72 % on the 360 ``test`` digits (1 error), 99.44 % on
``val`` (epoch 28 of 40).

References
----------
1. Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document
   recognition", Proc. IEEE 86 (1998).
2. M. Heusel et al., "GANs trained by a two time-scale update rule converge to a local Nash
   equilibrium", NeurIPS 2017 (FID: Fréchet distance on a classifier's features).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from diffusion._checks import check_data_tensor, check_device, check_has_methods
from diffusion._paths import WEIGHTS_DIR
from diffusion.data.digits import digits16
from diffusion.training.checkpoint import load_model, save_model
from diffusion.training.outputs import check_out_file, weights_parser
from numerics.cli import ArgumentParser, UsageError, fail, positive_int
from numerics.progress import Progress
from numerics.validate import as_array, as_scalar, check_int

__all__ = [
    "DEFAULT_PATH",
    "DigitCNN",
    "as_image_batch",
    "build_parser",
    "check_labels",
    "evaluate_accuracy",
    "load_digit_classifier",
    "save_digit_classifier",
    "train_classifier",
]

#: The shipped weights.
DEFAULT_PATH = WEIGHTS_DIR / "digit_classifier16.pt"

_KEY = "digit_classifier16/v1"

#: Largest channel count / feature width a DigitCNN is built with (a guard against
#: accidental huge allocations; the shipped network uses 64).
_MAX_WIDTH = 4096


def as_image_batch(x, name: str = "x", *, device=None) -> torch.Tensor:
    """Images ``x`` of shape ``[B, 1, 16, 16]``, ``[B, 16, 16]`` or ``[B, 256]`` as float32 NCHW.

    Raises ValueError naming ``name`` for any other shape, for NaN/Inf, complex values or
    a meta tensor, and for a ``device`` that does not exist here or holds no data (meta).
    """
    if device is not None:
        device = check_device(device, "device", allow_meta=False)
    return _image_tensor(x, name, device, detach=True)


def _image_tensor(x, name: str, device, *, detach: bool) -> torch.Tensor:
    """:func:`as_image_batch` on a checked ``device``; ``detach=False`` keeps the autograd
    graph of a tensor input (a forward pass in training)."""
    if isinstance(x, torch.Tensor):
        t = check_data_tensor(x, name)
        t = t.detach() if detach else t
    else:
        t = torch.as_tensor(as_array(x, name).astype(np.float32))
    shape = tuple(t.shape)
    if t.ndim == 4 and shape[1:] == (1, 16, 16):
        pass
    elif t.ndim == 3 and shape[1:] == (16, 16):
        t = t[:, None]
    elif t.ndim == 2 and shape[1] == 256:
        t = t.reshape(-1, 1, 16, 16)
    else:
        raise ValueError(
            f"{name}: expected images of shape [B, 1, 16, 16], [B, 16, 16] or [B, 256], "
            f"got {list(shape)}"
        )
    if shape[0] < 1:
        raise ValueError(f"{name}: expected at least one image, got {list(shape)}")
    t = t.to(dtype=torch.float32, device=device if device is not None else t.device)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or Inf")
    return t


def check_labels(labels, name: str = "labels") -> np.ndarray:
    """Class labels ``(n,)`` (array, list or tensor of integers >= 0) as an int64 array, else
    ValueError / TypeError naming ``name`` (floats, bools, complex values, strings, None)."""
    if isinstance(labels, torch.Tensor):
        labels = check_data_tensor(labels, name).detach().cpu().numpy()
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name}: expected integer class labels, got {type(labels).__name__}"
        ) from exc
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a (n,) array of labels, got shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: expected labels >= 0, got {arr.min()}")
    return arr.astype(np.int64, copy=False)


class DigitCNN(nn.Module):
    """CNN on ``[B, 1, 16, 16]`` digits in [-1, 1] (module docstring): logits ``[B, 10]``.

    Parameters
    ----------
    widths : (3,) ints
        Channels of the three convolutions (16, 32, 64).
    n_features : int
        Width F of the penultimate layer, the feature space (64).
    dropout : float
        Dropout before the last layer (training only).

    Examples
    --------
    >>> sum(p.numel() for p in DigitCNN().parameters())
    89546
    """

    def __init__(self, widths=(16, 32, 64), n_features: int = 64, dropout: float = 0.3):
        super().__init__()
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) != 3:
            raise ValueError(f"widths: expected 3 channel counts, got {widths!r:.60}")
        w1, w2, w3 = (check_int(w, "widths", minimum=1, maximum=_MAX_WIDTH) for w in widths)
        n_features = check_int(n_features, "n_features", minimum=1, maximum=_MAX_WIDTH)
        dropout = as_scalar(dropout, "dropout")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout!r}")
        self.config = dict(widths=[w1, w2, w3], n_features=n_features, dropout=dropout)
        self.body = nn.Sequential(
            nn.Conv2d(1, w1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w1, w2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(w2, w3, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(w3 * 16, int(n_features)),
        )
        self.drop = nn.Dropout(float(dropout))
        self.head = nn.Linear(int(n_features), 10)
        # features() divides by this scalar, the root mean square of the training images'
        # features (set by train_classifier), so that they are O(1) as the KID kernel expects
        self.register_buffer("feature_scale", torch.ones(()))

    @property
    def n_features(self) -> int:
        return self.config["n_features"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, 10]`` of images ``x`` (``[B, 1, 16, 16]``, ``[B, 16, 16]`` or
        ``[B, 256]``, finite; cast to float32 on the network's device, gradient kept)."""
        x = _image_tensor(x, "x", self.head.weight.device, detach=False)
        return self.head(self.drop(nn.functional.relu(self.body(x))))

    def _eval_batches(self, x, fn, batch: int):
        batch = check_int(batch, "batch", minimum=1)
        was = self.training
        self.eval()
        dev = next(self.parameters()).device
        x = _image_tensor(x, "x", dev, detach=True)
        try:
            with torch.no_grad():
                return torch.cat([fn(x[i : i + batch]) for i in range(0, x.shape[0], batch)])
        finally:
            self.train(was)

    def features(self, x, *, batch: int = 512) -> torch.Tensor:
        """Penultimate-layer features ``[B, F]`` (eval mode, no grad) of images ``x``.

        The pre-activations of the F-unit layer before the ReLU (after it, units that are
        never active on digits would make the feature covariance singular), divided by
        ``feature_scale`` (their root mean square over the ``train`` digits).
        ``x``: ``[B, 1, 16, 16]`` (or ``[B, 16, 16]``, ``[B, 256]``), tensor or array, in [-1, 1].
        """
        return self._eval_batches(x, lambda t: self.body(t) / self.feature_scale, batch)

    def logits(self, x, *, batch: int = 512) -> torch.Tensor:
        """Logits ``[B, 10]`` (eval mode, no grad)."""
        return self._eval_batches(x, self.forward, batch)

    def predict(self, x, *, batch: int = 512) -> torch.Tensor:
        """Predicted labels, int64 ``[B]`` (argmax of the logits)."""
        return self.logits(x, batch=batch).argmax(1)


def evaluate_accuracy(model: DigitCNN, images, labels) -> float:
    """Fraction of ``images`` whose predicted label equals ``labels`` (``(n,)`` ints)."""
    check_has_methods(model, "model", ("predict",), "a DigitCNN")
    labels = torch.as_tensor(check_labels(labels))
    pred = model.predict(as_image_batch(images, "images")).cpu()
    if pred.shape != labels.shape:
        raise ValueError(f"labels: expected shape {list(pred.shape)}, got {list(labels.shape)}")
    return float((pred == labels).double().mean())


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by an integer offset in {-1, 0, 1}², filling with the background -1."""
    B = x.shape[0]
    pad = nn.functional.pad(x, (1, 1, 1, 1), value=-1.0)
    off = torch.randint(0, 3, (B, 2), generator=gen)
    rows = off[:, 0, None] + torch.arange(16)  # [B, 16]
    cols = off[:, 1, None] + torch.arange(16)
    b = torch.arange(B)[:, None, None]
    return pad[b, 0, rows[:, :, None], cols[:, None, :]][:, None]


def train_classifier(
    *,
    epochs: int = 40,
    batch: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = False,
) -> tuple[DigitCNN, dict]:
    """Train :class:`DigitCNN` on the ``train`` split; keep the best-``val`` epoch.

    Returns ``(model, log)``, the model in eval mode with ``requires_grad`` off; ``log`` has
    per-epoch ``loss`` and ``val_acc``, ``best_epoch``, ``val_acc_best``, ``seconds``.
    """
    xtr, ytr = digits16("train")
    xva, yva = digits16("val")
    X = torch.as_tensor(xtr, dtype=torch.float32)[:, None]
    Y = torch.as_tensor(ytr)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitCNN()
        gen = torch.Generator().manual_seed(seed + 1)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        n = X.shape[0]
        steps_per = math.ceil(n / batch)
        total = epochs * steps_per
        log = dict(loss=[], val_acc=[])
        best, best_acc, best_epoch = None, -1.0, -1
        t0 = time.perf_counter()
        eta = Progress(total, f"{epochs} epochs of {steps_per} batches", bar=False,
                       prog="digit_classifier", verb="training")  # fmt: skip
        step = 0
        for epoch in tqdm(range(epochs), desc="train digit classifier", disable=not progress):
            model.train()
            perm = torch.randperm(n, generator=gen)
            acc = 0.0
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                for g in opt.param_groups:
                    g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
                xb = _shift(X[idx], gen)
                loss = nn.functional.cross_entropy(model(xb), Y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                acc += loss.item() * idx.numel()
                step += 1
                eta.update(1)
            log["loss"].append(acc / n)
            va = evaluate_accuracy(model, xva, yva)
            log["val_acc"].append(va)
            if va >= best_acc:
                best, best_acc, best_epoch = copy.deepcopy(model.state_dict()), va, epoch
        model.load_state_dict(best)
    model.eval().requires_grad_(False)
    model.feature_scale.fill_(float(model.features(X).pow(2).mean().sqrt()))
    log.update(
        best_epoch=best_epoch,
        val_acc_best=best_acc,
        seconds=time.perf_counter() - t0,
        epochs=int(epochs),
        batch=int(batch),
        lr=float(lr),
        seed=int(seed),
    )
    return model, log


def save_digit_classifier(model: DigitCNN, path, info: dict | None = None) -> None:
    """Write ``{key, config, state (float32 state dict), info}`` to ``path``.

    Atomic, and the same bytes as a direct ``torch.save`` of that dict
    (:func:`diffusion.training.checkpoint.save_model`).
    """
    if not isinstance(model, DigitCNN):
        raise TypeError(f"model: expected a DigitCNN, got {type(model).__name__}")
    if info is not None and not isinstance(info, dict):
        raise TypeError(f"info: expected a dict or None, got {type(info).__name__}")
    save_model(path, model, key=_KEY, info=info)


def load_digit_classifier(path=None, device="cpu") -> DigitCNN:
    """Load a :class:`DigitCNN` saved by :func:`save_digit_classifier` (default: the shipped one).

    Returns the model on ``device``, in eval mode, ``requires_grad`` off; the training
    record is ``model.info`` (test accuracy, command, ...). A missing file or a file that is
    not a digit-classifier checkpoint raises ValueError / FileNotFoundError; nothing is
    downloaded.

    Examples
    --------
    >>> m = load_digit_classifier()
    >>> m.features(torch.zeros(3, 1, 16, 16)).shape
    torch.Size([3, 64])
    """
    device = check_device(device, "device", allow_meta=True)
    return load_model(
        DEFAULT_PATH if path is None else path, DigitCNN, key=_KEY, what="digit-classifier",
        device=device, make="python -m diffusion.digit_classifier --train --out PATH",
    )  # fmt: skip


PROG = "python -m diffusion.digit_classifier"


def build_parser() -> ArgumentParser:
    p = weights_parser(
        PROG,
        "Train (--train) or evaluate the 16x16 digit classifier of the perception metrics; "
        "prints the test-split accuracy.",
        DEFAULT_PATH,
        train_help="train and save (else: evaluate --out)",
    )
    p.add_argument("--epochs", type=positive_int, default=40, help="training epochs")
    return p


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.train:
            check_out_file(args.out)
    except UsageError as exc:
        return fail(PROG, exc)
    torch.set_num_threads(args.threads)
    xte, yte = digits16("test")
    if args.train:
        model, log = train_classifier(epochs=args.epochs, seed=args.seed, progress=True)
        test_acc = evaluate_accuracy(model, xte, yte)
        info = dict(
            command=f"{PROG} --train --epochs {args.epochs} "
            f"--seed {args.seed} --threads {args.threads}",
            test_acc=test_acc,
            torch=str(torch.__version__),
            **log,
        )
        save_digit_classifier(model, args.out, info)
        print(
            f"trained in {log['seconds']:.1f} s; best epoch {log['best_epoch'] + 1}/{args.epochs}, "
            f"val accuracy {log['val_acc_best']:.4f}, test accuracy {test_acc:.4f} "
            f"({len(yte)} images); saved {args.out}"
        )
    else:
        try:
            model = load_digit_classifier(args.out)
        except (ValueError, FileNotFoundError) as exc:
            return fail(PROG, exc)
        print(f"test accuracy {evaluate_accuracy(model, xte, yte):.4f} ({len(yte)} images)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
