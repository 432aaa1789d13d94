"""Sweeps across processes: ``torchrun --nproc-per-node N python -m diffusion.restore ...``.

A run started by ``torchrun`` (or any launcher that sets ``WORLD_SIZE``, ``RANK`` and
``LOCAL_RANK``, e.g. ``srun`` with those exported) joins a :mod:`torch.distributed` process
group: gloo on the CPU, NCCL on CUDA (each rank on ``cuda:LOCAL_RANK``). Without those
variables, or with ``WORLD_SIZE=1``, nothing is initialised and :class:`Dist` is the single
process (rank 0 of 1), so a plain ``python -m`` run is unchanged.

The work is split by :func:`shard`: item ``u`` of a list goes to rank ``u mod N``. What an
item computes must not depend on which rank runs it (the restore sweep keys every random
number by seed, image, η and sample, and keeps the batches of a single-process run), so
the merged results are the same for every N.

Collectives (:meth:`Dist.gather`, :meth:`Dist.broadcast`) wait up to :data:`TIMEOUT` for
the slowest rank: a sweep's ranks meet only at the start and at the end, which may be hours
apart.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TIMEOUT", "Dist", "from_env", "shard"]

#: How long a rank waits at a collective for the others (the end of a long sweep).
TIMEOUT = datetime.timedelta(days=7)


def shard(items, rank: int, world: int) -> list:
    """The items of ``rank``: every ``world``-th one, starting at ``rank``.

    Examples
    --------
    >>> shard(range(7), 0, 2), shard(range(7), 1, 2), shard(range(3), 0, 1)
    ([0, 2, 4, 6], [1, 3, 5], [0, 1, 2])
    """
    ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (rank, world))
    if not ok or world < 1 or not 0 <= rank < world:
        raise ValueError(f"shard: expected 0 <= rank < world, got rank={rank}, world={world}")
    return list(items)[rank::world]


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: ``rank`` of ``world`` processes (``local_rank`` on its
    node); ``world == 1`` is a plain single-process run, in which every method is a no-op."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes the merged outputs and shows progress (rank 0)."""
        return self.rank == 0

    def shard(self, items) -> list:
        """This rank's items of ``items`` (:func:`shard`)."""
        return shard(items, self.rank, self.world)

    def gather(self, obj) -> list:
        """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable ``obj``)."""
        if self.world == 1:
            return [obj]
        import torch.distributed as tdist

        out = [None] * self.world
        tdist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj):
        """Rank 0's ``obj``, on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as tdist

        box = [obj if self.is_main else None]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        """Leave the process group (if one was joined)."""
        if self.world == 1:
            return
        import torch.distributed as tdist

        if tdist.is_initialized():
            tdist.destroy_process_group()


def _env_int(env, name: str, default: int) -> int:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {text!r}") from None


def from_env(device: str = "cpu", env=None) -> Dist:
    """The :class:`Dist` of this process from ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``;
    joins the process group when ``WORLD_SIZE > 1`` (gloo for ``device="cpu"``, NCCL and
    ``torch.cuda.set_device(LOCAL_RANK)`` for ``"cuda"``). ``env`` defaults to
    :data:`os.environ`.

    Examples
    --------
    >>> from_env("cpu", env={})
    Dist(rank=0, world=1, local_rank=0)
    """
    env = os.environ if env is None else env
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local = _env_int(env, "LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"WORLD_SIZE/RANK: expected 0 <= RANK < WORLD_SIZE, got {rank}, {world}")
    if world == 1:
        return Dist()
    import torch.distributed as tdist

    if str(device).startswith("cuda"):
        torch.cuda.set_device(local)
        backend = "nccl"
    else:
        backend = "gloo"
    if not tdist.is_initialized():
        tdist.init_process_group(backend=backend, timeout=TIMEOUT)
    return Dist(rank=rank, world=world, local_rank=local)
