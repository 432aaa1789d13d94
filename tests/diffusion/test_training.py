"""diffusion.training: the DSM loss, the EMA update, the checkpoint scheme, output checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion.experiments.toy2d.models import ScoreMLP, load_checkpoint, save_checkpoint
from diffusion.training.checkpoint import (
    atomic_torch_save,
    check_plain,
    load_modules,
    load_plain,
)
from diffusion.training.dsm import alpha_tables, diffuse, dsm_loss
from diffusion.training.ema import ema_update
from diffusion.training.outputs import check_out_dir, check_out_file
from numerics.cli import UsageError
from numerics.schedule import linear_schedule

from ._helpers import gen, one_thread  # noqa: F401  (autouse)
from ._unsafe import crafted_checkpoint, read_only_folder, unsafe_load_runs_code

SCHED = linear_schedule(1000)


# --------------------------------------------------------------------------- DSM loss


def test_diffuse_matches_the_float64_formula():
    x0 = torch.randn(6, 3, 4, generator=gen(0))
    eps = torch.randn(6, 3, 4, generator=gen(1))
    t = torch.tensor([1, 10, 100, 500, 999, 1000])
    ab = np.asarray(SCHED.alpha_bar)[t.numpy()][:, None, None]
    ref = np.sqrt(ab) * x0.double().numpy() + np.sqrt(1 - ab) * eps.double().numpy()
    np.testing.assert_allclose(diffuse(x0, t, eps, SCHED).numpy(), ref, rtol=0, atol=1e-6)
    # the precomputed tables give the same tensor, bit for bit
    assert torch.equal(diffuse(x0, t, eps, alpha_tables(SCHED)), diffuse(x0, t, eps, SCHED))


def test_dsm_loss_reductions_and_the_perfect_network():
    x0 = torch.randn(5, 2, 3, generator=gen(2))
    eps = torch.randn(5, 2, 3, generator=gen(3))
    t = torch.randint(1, 1001, (5,), generator=gen(4))
    zero = lambda x, tt: torch.zeros_like(x)  # noqa: E731
    per_sample = (eps.double() ** 2).flatten(1).sum(1).mean()
    assert float(dsm_loss(zero, x0, t, eps, SCHED)) == pytest.approx(float(per_sample), rel=1e-6)
    got = float(dsm_loss(zero, x0, t, eps, SCHED, reduction="mean"))
    assert got == pytest.approx(float(per_sample) / 6, rel=1e-6)  # D = 2 * 3 coordinates
    # the network that recovers eps exactly from x_t: (x_t - sqrt(ab) x0) / sqrt(1 - ab)
    sab, somab = alpha_tables(SCHED)

    def oracle(x, tt):
        return (x - sab[tt, None, None] * x0) / somab[tt, None, None]

    assert float(dsm_loss(oracle, x0, t, eps, SCHED)) < 1e-9
    with pytest.raises(ValueError, match="reduction"):
        dsm_loss(zero, x0, t, eps, SCHED, reduction="max")
    with pytest.raises(TypeError, match="schedule"):
        dsm_loss(zero, x0, t, eps, 3.0)


def test_ema_update_is_the_convex_step():
    a, p = [torch.tensor([0.0, 4.0])], [torch.tensor([1.0, 0.0])]
    ema_update(a, p, 0.9)
    torch.testing.assert_close(a[0], torch.tensor([0.1, 3.6]))
    with pytest.raises(ValueError):
        ema_update([torch.zeros(1)], [], 0.5)  # mismatched lists


# --------------------------------------------------------------------------- checkpoints


def test_atomic_save_round_trip_same_bytes_as_torch_save_and_no_temp_left(tmp_path):
    payload = {"w": torch.arange(4.0), "rng": torch.Generator().manual_seed(0).get_state(),
               "log": [(1, 0.5, 2.0)], "np_rng": np.random.default_rng(0).bit_generator.state,
               "none": None}  # fmt: skip
    path = atomic_torch_save(payload, tmp_path / "sub" / "c.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["c.pt"]
    back = load_plain(path)
    assert torch.equal(back["w"], payload["w"]) and back["log"] == [(1, 0.5, 2.0)]
    assert back["np_rng"] == payload["np_rng"]  # a numpy bit generator's state is plain
    direct = tmp_path / "direct" / "c.pt"
    direct.parent.mkdir()
    torch.save(payload, direct)
    assert path.read_bytes() == direct.read_bytes()


def test_objects_that_a_safe_load_refuses_are_not_written(tmp_path):
    with pytest.raises(TypeError, match=r"payload\['net'\]"):
        atomic_torch_save({"net": torch.nn.Linear(2, 2)}, tmp_path / "c.pt")
    with pytest.raises(TypeError, match="Generator"):
        check_plain({"rng": [torch.Generator()]})
    assert not any(tmp_path.iterdir())


def test_crafted_truncated_and_empty_files_are_refused_with_one_line(tmp_path):
    marker = tmp_path / "MARKER"
    bad = crafted_checkpoint(tmp_path / "bad.pt", marker, key="k")
    assert unsafe_load_runs_code(bad, marker)  # the file is really hostile
    with pytest.raises(ValueError, match="refused") as err:
        load_plain(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()
    good = atomic_torch_save({"w": torch.zeros(1000)}, tmp_path / "good.pt")
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[:300])
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint\n")
    for f in (trunc, empty, text):
        with pytest.raises(ValueError, match="cannot read") as err:
            load_plain(f)
        assert str(f) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        load_plain(tmp_path / "missing.pt")


def test_a_crafted_2d_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "MARKER"
    path = crafted_checkpoint(tmp_path / "score_net.pt", marker, key="k")
    with pytest.raises(ValueError, match="score_net.pt"):
        load_checkpoint(path, "k")
    assert not marker.exists()
    # a genuine one round-trips, and another key is "not this one" (None)
    net = ScoreMLP()
    save_checkpoint(tmp_path / "ok.pt", modules={"score": net}, key="k", info={"a": 1})
    mods, info = load_checkpoint(tmp_path / "ok.pt", "k")
    assert info == {"a": 1} and not mods["score"].training
    assert load_checkpoint(tmp_path / "ok.pt", "other") is None
    with pytest.raises(ValueError, match="unknown network"):
        load_modules(tmp_path / "ok.pt", "k", {"generator": ScoreMLP})


# --------------------------------------------------------------------------- output checks


def test_output_checks_name_the_option(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert check_out_dir(tmp_path / "new" / "run").is_dir()
    with pytest.raises(UsageError, match="--out: .* is a file, not a folder"):
        check_out_dir(f)
    with pytest.raises(UsageError, match="--out: .* lies under .*file"):
        check_out_dir(f / "run")
    with pytest.raises(UsageError, match="--x: .* is a folder"):
        check_out_file(tmp_path, "--x")
    with pytest.raises(UsageError, match="--x: .* lies under"):
        check_out_file(f / "w.pt", "--x")
    assert check_out_file(tmp_path / "a" / "w.pt") == tmp_path / "a" / "w.pt"


def test_read_only_output_folder(tmp_path):
    ro = read_only_folder(tmp_path)
    with pytest.raises(UsageError, match="--out: cannot write in"):
        check_out_dir(ro / "run")
