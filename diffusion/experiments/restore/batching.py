"""How many chains (image x η x sample) one sampler call runs: ``--image-batch auto``.

On CUDA the batch is chosen from free memory: one reverse step (denoiser, and the DPS
gradient through it) is run on a probe batch, its peak memory per chain measured
(``torch.cuda.max_memory_allocated``), and the batch set to the number of chains that fit
in :data:`MEMORY_FRACTION` of the free memory (``torch.cuda.mem_get_info``), at most all of
them. When not even one chain fits, or the GPU runs out of memory later, the run stops with
one line naming ``--image-batch`` (exit status 2), not an out-of-memory traceback. On the
CPU the batch is :data:`CPU_BATCH` chains.

The chains' results do not depend on the batch (each chain has its own generator,
:func:`~diffusion.experiments.restore.chains.generators`), up to floating-point rounding
of batched arithmetic.
"""

from __future__ import annotations

import math

import torch

from numerics.cli import UsageError

__all__ = ["CPU_BATCH", "MEMORY_FRACTION", "auto_batch", "choose_batch", "is_out_of_memory"]

#: Chains per sampler call with ``--image-batch auto`` on the CPU.
CPU_BATCH = 8

#: Share of the free GPU memory the chains may fill (the rest: allocator slack, rounding).
MEMORY_FRACTION = 0.8


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def choose_batch(per_chain: float, free: float, total: int, *, what: str = "one chain") -> int:
    """The largest batch of at most ``total`` chains whose ``per_chain`` bytes fit in
    :data:`MEMORY_FRACTION` of ``free`` bytes.

    ``per_chain`` and ``free`` are finite numbers > 0 (bytes), ``total`` an integer >= 1
    (``ValueError`` / ``TypeError`` naming the argument otherwise).

    Raises
    ------
    UsageError
        Not even one chain fits (one line naming ``--image-batch``).

    Examples
    --------
    >>> choose_batch(1e9, 10e9, 100), choose_batch(1e9, 10e9, 5)
    (8, 5)
    >>> choose_batch(9e9, 10e9, 5)
    Traceback (most recent call last):
    ...
    numerics.cli.UsageError: --image-batch auto: one chain needs about 8.38 GiB of GPU memory, 9.31 GiB is free (80 % usable): use a smaller network or image, --dtype float32, or free the GPU
    """
    from numerics.validate import check_int, check_positive

    per_chain = check_positive(per_chain, "per_chain")
    free = check_positive(free, "free")
    total = check_int(total, "total", minimum=1)
    n = math.floor(MEMORY_FRACTION * free / max(per_chain, 1.0))
    if n < 1:
        raise UsageError(
            f"--image-batch auto: {what} needs about {_gib(per_chain)} of GPU memory, "
            f"{_gib(free)} is free ({MEMORY_FRACTION * 100:.0f} % usable): use a smaller network "
            "or image, --dtype float32, or free the GPU"
        )
    return min(n, total)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is torch's out-of-memory error (CUDA or CPU allocator)."""
    if not isinstance(exc, BaseException):
        raise TypeError(f"exc: expected an exception, got {type(exc).__name__}")
    oom = getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(exc, oom) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def auto_batch(probe, total: int, device) -> int:
    """Chains per sampler call for ``--image-batch auto``.

    Parameters
    ----------
    probe : callable ``(n) -> None``
        Runs one reverse step (with guidance) of ``n`` chains on ``device``.
    total : int
        Chains in the whole run (the batch is at most this).
    device : torch device

    Returns
    -------
    int >= 1
    """
    from numerics.validate import check_callable, check_int

    check_callable(probe, "probe")
    total = check_int(total, "total", minimum=1)
    try:
        device = torch.device(device)
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"device: not a torch device: {device!r:.40}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device} requested but no CUDA device is available")
    if device.type != "cuda":
        return min(CPU_BATCH, int(total))
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info(device)
    n_probe = min(2, int(total))
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    try:
        probe(n_probe)
    except Exception as exc:  # noqa: BLE001 - only an out-of-memory error is ours to explain
        if not is_out_of_memory(exc):
            raise
        torch.cuda.empty_cache()
        raise UsageError(
            f"--image-batch auto: {n_probe} chain(s) of one reverse step do not fit in the "
            f"{_gib(free)} of free GPU memory: use a smaller network or image, or free the GPU"
        ) from None
    torch.cuda.synchronize(device)
    per_chain = (torch.cuda.max_memory_allocated(device) - base) / n_probe
    torch.cuda.empty_cache()
    return choose_batch(per_chain, free, total)
