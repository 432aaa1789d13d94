r"""The guided-diffusion (ADM) UNet of Dhariwal & Nichol, the network of the paper's, DPS's,
DiffPIR's and DDRM's public checkpoints, written here from the published description.

The network maps ``(x [B, C, H, W], timesteps int [B])`` to ``[B, C_out, H, W]``; with
``learn_sigma`` ``C_out = 2 C``: the first ``C`` channels are ε, the last ``C`` the variance
interpolation (unused here). Module names follow the state-dict layout of the public
``.pt`` files (``time_embed.0``, ``input_blocks.N.k``, ``middle_block``, ``output_blocks``,
``out``), so such a file loads with :meth:`torch.nn.Module.load_state_dict` and nothing
renamed (:mod:`diffusion.priors.adm_load` checks and loads it).

Architecture (all convolutions 3 x 3 with padding 1 unless said):

* **timestep embedding**: sinusoidal features of the integer timestep, ``[cos(t f_i),
  sin(t f_i)]`` with :math:`f_i = 10000^{-i/h}`, ``h = num_channels / 2``, then
  ``Linear -> SiLU -> Linear`` to ``4 num_channels`` (``time_embed.0/2``);
* **input blocks**: a convolution to ``num_channels``, then per level ``num_res_blocks``
  residual blocks to ``num_channels * channel_mult[level]`` (with self-attention where the
  downsampling factor is in ``attention_resolutions``) and, except at the last level, a
  downsampling block (a residual block that average-pools inside it with
  ``resblock_updown``, else a stride-2 convolution ``op``);
* **middle**: residual block, attention, residual block;
* **output blocks**: per level from the coarsest, ``num_res_blocks + 1`` residual blocks on
  the concatenation of the running features and the matching input block's output, with
  attention as above, and an upsampling block (a residual block that upsamples, nearest,
  inside it with ``resblock_updown``, else nearest upsampling and a convolution ``conv``)
  after the last one of every level but the finest;
* **out**: GroupNorm, SiLU, convolution to ``C_out``.

A **residual block** is ``GroupNorm(32) -> SiLU -> conv`` (``in_layers``), the embedding
through ``SiLU -> Linear`` (``emb_layers``) added to the features, or with
``use_scale_shift_norm`` split into (scale, shift) applied as ``norm(h) (1 + scale) +
shift``, then ``SiLU -> Dropout -> conv`` (``out_layers``), plus a skip path (identity, or a
1 x 1 convolution where the channel count changes). An **attention block** normalises,
projects to q, k, v with one 1 x 1 ``Conv1d`` (``qkv``, ``3 C`` outputs), attends over the
``H W`` positions with ``C / num_head_channels`` heads (or ``num_heads``), and adds the
``Conv1d`` projection ``proj_out``. The heads' channels are laid out as in the public
checkpoints: ``use_new_attention_order=False`` (the "legacy" order, used by both presets)
reads the ``3 C`` channels as ``[heads, (q, k, v), C / heads]``; ``True`` as ``[(q, k, v),
heads, C / heads]``.

GroupNorm runs in at least float32 (half-precision inputs are normalised in float32 and cast
back), as in the reference implementation.

References
----------
1. P. Dhariwal, A. Nichol, "Diffusion Models Beat GANs on Image Synthesis", NeurIPS 2021.
2. A. Nichol, P. Dhariwal, "Improved Denoising Diffusion Probabilistic Models", ICML 2021.
3. H. Chung et al., "Diffusion Posterior Sampling for General Noisy Inverse Problems",
   ICLR 2023 (the FFHQ checkpoint's configuration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ADMConfig", "ADMUNet"]

#: ``channel_mult`` when the configuration leaves it empty, by ``image_size`` (the
#: reference defaults).
DEFAULT_CHANNEL_MULT = {
    512: (0.5, 1, 1, 2, 2, 4, 4),
    256: (1, 1, 2, 2, 4, 4),
    128: (1, 1, 2, 3, 4),
    64: (1, 2, 3, 4),
}

_GROUPS = 32


def _ints(text, name: str) -> tuple:
    """A comma-separated string (or a list) of positive numbers as a tuple."""
    if isinstance(text, str):
        parts = [p for p in text.split(",") if p.strip()]
    elif isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        raise ValueError(f"{name}: expected a comma-separated string or a list, got {text!r}")
    try:
        vals = tuple(float(p) for p in parts)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected numbers, got {text!r}") from exc
    if any(not (v > 0 and math.isfinite(v)) for v in vals):
        raise ValueError(f"{name}: expected positive numbers, got {text!r}")
    return tuple(int(v) if v == int(v) else v for v in vals)


@dataclass(frozen=True)
class ADMConfig:
    """One ADM network, with the field names of guided-diffusion's configuration.

    ``channel_mult`` and ``attention_resolutions`` are comma-separated strings (or lists):
    ``""`` multipliers take the default of ``image_size`` (:data:`DEFAULT_CHANNEL_MULT`);
    attention resolutions are image sides (``"16"``: at 16 x 16 for a 256 image).
    ``use_fp16`` and ``use_checkpoint`` (training-time memory settings) do not change the
    network and are only recorded; ``class_cond=True`` is refused (unconditional only).
    ``in_channels`` is not a guided-diffusion field (3 there).

    Raises
    ------
    ValueError
        A field out of range, naming it (e.g. channels not divisible by 32 for GroupNorm,
        or by ``num_head_channels``).
    """

    image_size: int = 256
    num_channels: int = 128
    num_res_blocks: int = 1
    channel_mult: str | tuple = ""
    learn_sigma: bool = True
    class_cond: bool = False
    use_checkpoint: bool = False
    attention_resolutions: str | tuple = "16"
    num_heads: int = 4
    num_head_channels: int = 64
    num_heads_upsample: int = -1
    use_scale_shift_norm: bool = True
    dropout: float = 0.0
    resblock_updown: bool = True
    use_fp16: bool = False
    use_new_attention_order: bool = False
    in_channels: int = 3

    def __post_init__(self):
        for name in ("image_size", "num_channels", "num_res_blocks", "in_channels"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        for name in ("num_heads", "num_head_channels", "num_heads_upsample"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or (v < 1 and v != -1):
                raise ValueError(f"{name}: expected an integer >= 1 or -1, got {v!r}")
        for name in ("learn_sigma", "class_cond", "use_checkpoint", "use_scale_shift_norm",
                     "resblock_updown", "use_fp16", "use_new_attention_order"):  # fmt: skip
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        if self.class_cond:
            raise ValueError("class_cond: class-conditional networks are not supported")
        if isinstance(self.dropout, bool) or not (0.0 <= float(self.dropout) < 1.0):
            raise ValueError(f"dropout: expected a number in [0, 1), got {self.dropout!r}")
        if self.num_head_channels == -1 and self.num_heads == -1:
            raise ValueError("num_heads: give num_heads or num_head_channels (both are -1)")
        mult = self.mult
        if self.image_size % 2 ** (len(mult) - 1):
            raise ValueError(
                f"image_size: {self.image_size} is not divisible by 2^{len(mult) - 1} "
                f"for {len(mult)} levels of channel_mult"
            )
        for ch in {int(self.num_channels * m) for m in mult} | {self.num_channels}:
            if ch % _GROUPS:
                raise ValueError(
                    f"num_channels: every level's channels must be divisible by {_GROUPS} "
                    f"(GroupNorm), got {ch} from {self.num_channels} x channel_mult {mult}"
                )
        att = self.attention_ds
        with_attention = {int(self.num_channels * m) for k, m in enumerate(mult) if 2**k in att}
        for ch in with_attention | {int(self.num_channels * mult[-1])}:  # + the middle block
            if self.num_head_channels != -1 and ch % self.num_head_channels:
                raise ValueError(
                    f"num_head_channels: {self.num_head_channels} does not divide the {ch} "
                    "channels of an attention block"
                )

    @property
    def mult(self) -> tuple:
        """The channel multipliers, one per level."""
        if self.channel_mult in ("", (), None):
            if self.image_size not in DEFAULT_CHANNEL_MULT:
                raise ValueError(
                    f"channel_mult: empty, and image_size {self.image_size} has no default "
                    f"(defaults for {sorted(DEFAULT_CHANNEL_MULT)}); give it"
                )
            return DEFAULT_CHANNEL_MULT[self.image_size]
        return _ints(self.channel_mult, "channel_mult")

    @property
    def attention_ds(self) -> frozenset:
        """Downsampling factors with attention (``image_size // resolution``)."""
        res = _ints(self.attention_resolutions, "attention_resolutions")
        bad = [r for r in res if not isinstance(r, int) or self.image_size % r]
        if bad:
            raise ValueError(
                f"attention_resolutions: {bad[0]} does not divide image_size {self.image_size}"
            )
        return frozenset(self.image_size // r for r in res)

    @property
    def out_channels(self) -> int:
        """``2 in_channels`` with ``learn_sigma`` (ε first), else ``in_channels``."""
        return self.in_channels * (2 if self.learn_sigma else 1)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(in_channels, image_size, image_size)``."""
        return (self.in_channels, self.image_size, self.image_size)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0):
    """Sinusoidal features ``[B, dim]`` of ``timesteps [B]``: ``cos`` half, then ``sin`` half
    (a zero column appended for odd ``dim``), in float32."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period)
        * torch.arange(half, dtype=torch.float32, device=timesteps.device)
        / half
    )
    args = timesteps[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class _Norm(nn.GroupNorm):
    """GroupNorm(32) in at least float32."""

    def __init__(self, channels: int):
        super().__init__(_GROUPS, channels)

    def forward(self, x):
        if x.dtype in (torch.float16, torch.bfloat16):
            return super().forward(x.float()).to(x.dtype)
        return super().forward(x)


class _Resample(nn.Module):
    """Nearest x2 upsampling or 2 x 2 average pooling, optionally followed / done by a conv
    (named ``conv`` / ``op`` as in the checkpoints)."""

    def __init__(self, channels: int, up: bool, with_conv: bool):
        super().__init__()
        self.up = up
        if with_conv and up:
            self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        elif with_conv:
            self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x, emb=None):
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            return self.conv(x) if hasattr(self, "conv") else x
        return self.op(x) if hasattr(self, "op") else F.avg_pool2d(x, 2, 2)


class _ResBlock(nn.Module):
    def __init__(self, cin, emb_ch, cout, *, dropout, scale_shift, up=False, down=False):
        super().__init__()
        self.scale_shift = scale_shift
        self.in_layers = nn.Sequential(_Norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.resample = _Resample(cin, up, False) if (up or down) else None
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_ch, 2 * cout if scale_shift else cout)
        )
        self.out_layers = nn.Sequential(
            _Norm(cout), nn.SiLU(), nn.Dropout(dropout), nn.Conv2d(cout, cout, 3, padding=1)
        )
        self.skip_connection = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb):
        if self.resample is not None:  # resample between the norm/SiLU and the conv
            h = self.in_layers[1](self.in_layers[0](x))
            h = self.in_layers[2](self.resample(h))
            x = self.resample(x)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[3](self.out_layers[2](self.out_layers[1](h)))
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class _Attention(nn.Module):
    def __init__(self, channels: int, heads: int, new_order: bool):
        super().__init__()
        self.heads, self.new_order = heads, new_order
        self.norm = _Norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x, emb=None):
        B, C, H, W = x.shape
        flat = x.reshape(B, C, H * W)
        qkv = self.qkv(self.norm(flat))  # [B, 3C, L]
        ch, L = C // self.heads, H * W
        if self.new_order:  # [(q, k, v), heads, ch]
            q, k, v = (z.reshape(B * self.heads, ch, L) for z in qkv.chunk(3, dim=1))
        else:  # legacy: [heads, (q, k, v), ch]
            q, k, v = qkv.reshape(B * self.heads, 3 * ch, L).split(ch, dim=1)
        a = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        )  # [B*heads, L, ch], softmax(q kᵀ / sqrt(ch)) v
        h = a.transpose(1, 2).reshape(B, C, L)
        return (flat + self.proj_out(h)).reshape(B, C, H, W)


class _Seq(nn.Sequential):
    """A block list whose members take ``(x, emb)`` (convolutions take ``x``)."""

    def forward(self, x, emb):
        for m in self:
            x = m(x, emb) if isinstance(m, (_ResBlock, _Attention, _Resample)) else m(x)
        return x


class ADMUNet(nn.Module):
    """The guided-diffusion UNet of an :class:`ADMConfig` (module notes).

    ``forward(x [B, in_channels, H, W], timesteps int [B]) -> [B, out_channels, H, W]``;
    ``H`` and ``W`` divisible by ``2^(levels - 1)``; ``timesteps`` are the network's own
    indices (0 ... 999 for the public checkpoints). Parameters get PyTorch's default
    initialisation (the reference zero-initialises some output convolutions; a checkpoint
    overwrites both).
    """

    def __init__(self, config: ADMConfig):
        super().__init__()
        if not isinstance(config, ADMConfig):
            raise ValueError(f"config: expected an ADMConfig, got {type(config).__name__}")
        self.config = c = config
        mc, emb_ch, mult, att = c.num_channels, 4 * c.num_channels, c.mult, c.attention_ds
        rb = dict(dropout=float(c.dropout), scale_shift=c.use_scale_shift_norm)

        def attention(ch, heads):
            n = heads if c.num_head_channels == -1 else ch // c.num_head_channels
            return _Attention(ch, n, c.use_new_attention_order)

        heads_up = c.num_heads if c.num_heads_upsample == -1 else c.num_heads_upsample
        self.time_embed = nn.Sequential(nn.Linear(mc, emb_ch), nn.SiLU(), nn.Linear(emb_ch, emb_ch))
        ch = int(mult[0] * mc)
        self.input_blocks = nn.ModuleList([_Seq(nn.Conv2d(c.in_channels, ch, 3, padding=1))])
        skips, ds = [ch], 1
        for level, m in enumerate(mult):
            for _ in range(c.num_res_blocks):
                layers = [_ResBlock(ch, emb_ch, int(m * mc), **rb)]
                ch = int(m * mc)
                if ds in att:
                    layers.append(attention(ch, c.num_heads))
                self.input_blocks.append(_Seq(*layers))
                skips.append(ch)
            if level != len(mult) - 1:
                down = (_ResBlock(ch, emb_ch, ch, down=True, **rb) if c.resblock_updown
                        else _Resample(ch, up=False, with_conv=True))  # fmt: skip
                self.input_blocks.append(_Seq(down))
                skips.append(ch)
                ds *= 2
        self.middle_block = _Seq(
            _ResBlock(ch, emb_ch, ch, **rb),
            attention(ch, c.num_heads),
            _ResBlock(ch, emb_ch, ch, **rb),
        )
        self.output_blocks = nn.ModuleList()
        for level, m in list(enumerate(mult))[::-1]:
            for i in range(c.num_res_blocks + 1):
                layers = [_ResBlock(ch + skips.pop(), emb_ch, int(m * mc), **rb)]
                ch = int(m * mc)
                if ds in att:
                    layers.append(attention(ch, heads_up))
                if level and i == c.num_res_blocks:
                    layers.append(_ResBlock(ch, emb_ch, ch, up=True, **rb) if c.resblock_updown
                                  else _Resample(ch, up=True, with_conv=True))  # fmt: skip
                    ds //= 2
                self.output_blocks.append(_Seq(*layers))
        self.out = nn.Sequential(_Norm(ch), nn.SiLU(), nn.Conv2d(ch, c.out_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        w = self.time_embed[0].weight
        emb = self.time_embed(timestep_embedding(timesteps, self.config.num_channels).to(w.dtype))
        h, hs = x, []
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)
