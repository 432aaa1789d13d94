"""Per-step cost of DPS sampling over a small UNet vs the bare network forward + backward.

    python benchmarks/sampler_overhead.py [--size 64] [--batch 8] [--steps 20] [--rounds 5]
                                          [--operator sr4|blur|inpaint|all] [--device cpu]
                                          [--threads N] [--clock wall|process]
                                          [--net tiny|digits16|ffhq256]
                                          [--autocast none|fp16|bf16]

A DPS step (:func:`diffusion.sampler.sample` with :class:`diffusion.guidance.DPSGuidance`)
costs one network forward and one backward to the input, plus the sampler's own work: the
schedule coefficients, the operator and its adjoint (through autograd), the noise draw, the
update and the divergence check. This script measures, in the same process and interleaved
round by round, the median time of

* ``bare``: ``net(x, t)`` and ``torch.autograd.grad`` of a scalar of its output w.r.t. x;
* ``dps``: one reverse step of the sampler (time between successive callbacks, so the
  one-off set-up is excluded),

and prints ``dps / bare`` (the issue's target: <= 1.05). ``--clock process`` times with the
process CPU clock instead of the wall clock: on a shared, loaded machine (other jobs competing
for the cores) wall times swing by 2x between identical calls, while the CPU time of a
single-threaded run (``--threads 1``) still measures the work done. The network is a small
randomly initialised ε-prediction UNet written here (no new dependency; ~1 M parameters,
GroupNorm, so samples are independent); its weights do not matter for the timing.
``--net digits16`` uses the shipped ``diffusers.UNet2DModel`` digit prior instead
(:mod:`diffusion.priors.unet`, 1.06 M parameters, ``[B, 1, 16, 16]``; ``--size`` is then 16;
the blur is 5 x 5, std 1.0 px as in ``python -m diffusion.restore`` on digits).
``--net ffhq256`` builds the guided-diffusion network of DPS's FFHQ checkpoint
(:mod:`diffusion.priors.adm`, 93.6 M parameters, ``[B, 3, 256, 256]``) with random weights
(they time the same as trained ones), optionally under ``--autocast``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

import torch
from torch import nn

from diffusion.guidance import DPSGuidance
from diffusion.models import EpsilonAdapter
from diffusion.operators import AveragePoolSR, GaussianBlur, Inpainting, box_mask
from diffusion.sampler import sample
from numerics.schedule import linear_schedule


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, temb: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.t = nn.Linear(temb, c_out)
        self.n2, self.c2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.c1(nn.functional.silu(self.n1(x)))
        h = h + self.t(emb)[:, :, None, None]
        h = self.c2(nn.functional.silu(self.n2(h)))
        return h + self.skip(x)


class TinyUNet(nn.Module):
    """ε-prediction UNet: channels (32, 64, 64), one ResBlock per level, skip connections."""

    def __init__(self, channels: int = 3, base: int = 32, mult=(1, 2, 2), temb: int = 128):
        super().__init__()
        self.temb_dim = temb
        self.temb = nn.Sequential(nn.Linear(temb, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.inc = nn.Conv2d(channels, base, 3, padding=1)
        chs = [base * m for m in mult]
        self.down, self.pool = nn.ModuleList(), nn.ModuleList()
        c = base
        for i, co in enumerate(chs):
            self.down.append(ResBlock(c, co, temb))
            last = i == len(chs) - 1
            self.pool.append(nn.Identity() if last else nn.Conv2d(co, co, 3, stride=2, padding=1))
            c = co
        self.mid = ResBlock(c, c, temb)
        self.up = nn.ModuleList()
        for co in reversed(chs):
            self.up.append(ResBlock(c + co, co, temb))
            c = co
        self.out = nn.Sequential(
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, channels, 3, padding=1)
        )

    def forward(self, x, t):
        emb = self.temb(timestep_embedding(t, self.temb_dim))
        h = self.inc(x)
        skips = []
        for block, pool in zip(self.down, self.pool, strict=True):
            h = block(h, emb)
            skips.append(h)
            h = pool(h)
        h = self.mid(h, emb)
        for block in self.up:
            s = skips.pop()
            if h.shape[-1] != s.shape[-1]:
                h = nn.functional.interpolate(h, size=s.shape[-2:], mode="nearest")
            h = block(torch.cat([h, s], dim=1), emb)
        return self.out(h)


def make_operator(name: str, shape):
    s = shape[-1]
    if name == "sr4":
        return AveragePoolSR(4, shape)
    if name == "blur":
        return GaussianBlur(61, 3.0, shape) if s >= 64 else GaussianBlur(5, 1.0, shape)
    if name == "inpaint":
        return Inpainting(box_mask(shape, (s // 4, s // 4, s // 2, s // 2)))
    raise ValueError(name)


def bench(op_name: str, args, net, schedule, device) -> tuple[float, float]:
    shape = (args.channels, args.size, args.size)
    B = args.batch
    op = make_operator(op_name, shape)
    g = torch.Generator(device=device).manual_seed(0)
    x_true = torch.rand(1, *shape, generator=g, device=device) * 2 - 1
    y = op.A(x_true)[0]
    model = EpsilonAdapter(net, schedule, clip=(-1, 1))
    guidance = DPSGuidance(op, y, 1.0, form="reference")
    x = torch.randn(B, *shape, generator=g, device=device)
    t = torch.full((B,), 500, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    clock = time.process_time if args.clock == "process" else time.perf_counter

    def bare_once():
        xr = x.detach().requires_grad_(True)
        out = net(xr, t)
        (gr,) = torch.autograd.grad(out.square().sum(), xr)
        return gr

    def dps_steps():
        stamps = []

        def cb(i, tt, xx, x0):
            sync()
            stamps.append(clock())

        sample(
            model,
            x,
            schedule,
            eta=torch.linspace(0, 1, B),
            guidance=guidance,
            steps=args.steps,
            generator=torch.Generator(device=device).manual_seed(1),
            callback=cb,
            max_abs=None,
        )
        return [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]

    for _ in range(2):  # warm-up
        bare_once()
    dps_steps()
    bare, dps = [], []
    for _ in range(args.rounds):
        for _ in range(args.steps):
            sync()
            t0 = clock()
            bare_once()
            sync()
            bare.append(clock() - t0)
        dps.extend(dps_steps())
    return statistics.median(bare), statistics.median(dps)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="reverse steps per timed run")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--operator", default="all", choices=["sr4", "blur", "inpaint", "all"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--clock", default="wall", choices=["wall", "process"])
    ap.add_argument("--net", default="tiny", choices=["tiny", "digits16", "ffhq256"])
    ap.add_argument("--autocast", default="none", choices=["none", "fp16", "bf16"],
                    help="ffhq256 only: the network under torch.autocast")  # fmt: skip
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    if args.net == "digits16":
        from diffusion.priors.unet import load_unet_prior

        prior = load_unet_prior("digits16", device=device)
        net, args.size, args.channels, name = prior.net, 16, 1, "diffusers UNet2DModel digits16"
        n_par = sum(p.numel() for p in prior.unet.parameters())
    elif args.net == "ffhq256":
        from diffusion.priors import ADM_PRESETS, ADMPrior, ADMUNet

        adm = ADMUNet(ADM_PRESETS["ffhq256"]).to(device)
        prior = ADMPrior(adm, (3, 256, 256), autocast=args.autocast)
        net, args.size, args.channels = prior.net, 256, 3
        name = f"ADM ffhq256 (random weights, autocast {args.autocast})"
        n_par = sum(p.numel() for p in adm.parameters())
    else:
        net, args.channels, name = TinyUNet().to(device).eval(), 3, "TinyUNet"
        n_par = sum(p.numel() for p in net.parameters())
    schedule = linear_schedule(1000)
    cpu = platform.processor() or platform.machine()
    print(
        f"machine: {os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    print(
        f"network: {name}, {n_par / 1e6:.2f} M parameters, input [{args.batch}, {args.channels}, "
        f"{args.size}, {args.size}]; {args.rounds} rounds x {args.steps} steps, medians, "
        f"{args.clock} clock"
    )
    ops = ["sr4", "inpaint", "blur"] if args.operator == "all" else [args.operator]
    for name in ops:
        bare, dps = bench(name, args, net, schedule, device)
        print(
            f"operator {name:8s} bare fwd+bwd {bare * 1e3:8.2f} ms | DPS step {dps * 1e3:8.2f} ms"
            f" | ratio {dps / bare:.3f}"
        )


if __name__ == "__main__":
    main()
