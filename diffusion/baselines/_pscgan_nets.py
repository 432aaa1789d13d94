r"""The 2-D PSCGAN networks (:class:`Generator`, :class:`Critic`, their :class:`MLPBlock`)
and :func:`layer_config`; public as :mod:`diffusion.baselines.pscgan` (module notes there)."""

from __future__ import annotations

import torch
from torch import nn

from diffusion.baselines._checks import check_net_input, check_size, check_tensor, check_widths

__all__ = ["Critic", "Generator", "MLPBlock", "layer_config"]


def layer_config(**sizes) -> dict:
    """Network sizes as a plain ``config`` dict: ints, and lists of ints for layer widths.

    Examples
    --------
    >>> layer_config(x_dim=2, widths=(32, 128))
    {'x_dim': 2, 'widths': [32, 128]}

    Every size is an integer >= 1 and every list non-empty (ValueError naming the keyword).
    """
    return {
        k: check_widths(v, k) if isinstance(v, (list, tuple)) else check_size(v, k)
        for k, v in sizes.items()
    }


class MLPBlock(nn.Module):
    """Linear layers ``in -> widths[0] -> ... -> widths[-1]`` with leaky ReLU between them.

    No activation after the last layer (DSB's ``MLP(activate_final=False)``).
    """

    def __init__(self, in_dim: int, widths):
        super().__init__()
        cfg = layer_config(in_dim=in_dim, widths=widths)
        dims = [cfg["in_dim"], *cfg["widths"]]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [..., in_dim] -> [..., widths[-1]]``."""
        check_tensor(x, "x", dtype=self.layers[0].weight.dtype, device=self.layers[0].weight.device)
        if x.ndim < 1 or x.shape[-1] != self.layers[0].in_features:
            raise ValueError(f"x: expected shape [..., {self.layers[0].in_features}], got "
                             f"{list(x.shape)}")  # fmt: skip
        for layer in self.layers[:-1]:
            x = nn.functional.leaky_relu(layer(x))
        return self.layers[-1](x)


class Generator(nn.Module):
    """PSCGAN's 2-D conditional generator ``g(y [B, d], z [B, z_dim]) -> x [B, d]``.

    Examples
    --------
    >>> sum(p.numel() for p in Generator().parameters())
    25630
    """

    def __init__(
        self, x_dim: int = 2, z_dim: int = 2, encoder_layers=(16, 32), decoder_layers=(126, 126)
    ):
        super().__init__()
        self.config = layer_config(
            x_dim=x_dim, z_dim=z_dim, encoder_layers=encoder_layers, decoder_layers=decoder_layers
        )
        cfg = self.config
        self.z_dim = cfg["z_dim"]
        self.y_encoder = MLPBlock(cfg["x_dim"], cfg["encoder_layers"])
        self.z_encoder = MLPBlock(cfg["z_dim"], cfg["encoder_layers"])
        self.net = MLPBlock(2 * cfg["encoder_layers"][-1], [*cfg["decoder_layers"], cfg["x_dim"]])

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one latent z: ``(z_dim,)``."""
        return (self.z_dim,)

    @property
    def y_shape(self) -> tuple[int, ...]:
        """Shape of one measurement y: ``(x_dim,)``."""
        return (self.config["x_dim"],)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``y [B, x_dim]``, ``z [B, z_dim]`` (the network's dtype and device) -> ``[B, x_dim]``."""
        check_net_input(y, "y", self, self.y_shape)
        check_net_input(z, "z", self, self.latent_shape, batch=y.shape[0], other="y")
        return self.net(torch.cat([self.y_encoder(y), self.z_encoder(z)], dim=-1))


class Critic(nn.Module):
    """PSCGAN's 2-D critic ``D(x [B, d], y [B, d]) -> [B]``: five linear layers, leaky ReLU.

    Examples
    --------
    >>> sum(p.numel() for p in Critic().parameters())
    25057
    """

    def __init__(self, x_dim: int = 2, widths=(32, 128, 128, 32)):
        super().__init__()
        self.config = layer_config(x_dim=x_dim, widths=widths)
        self.net = MLPBlock(2 * self.config["x_dim"], [*self.config["widths"], 1])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x [B, x_dim]``, ``y [B, x_dim]`` (the network's dtype and device) -> ``[B]``."""
        d = (self.config["x_dim"],)
        check_net_input(x, "x", self, d)
        check_net_input(y, "y", self, d, batch=x.shape[0], other="x")
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)
