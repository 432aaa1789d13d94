"""diffusion.digit_classifier: shipped test accuracy, features, loading, training."""

import numpy as np
import pytest
import torch

from diffusion.data.digits import digits16
from diffusion.metrics.digit_classifier import (
    DigitCNN,
    _shift,
    as_image_batch,
    evaluate_accuracy,
    load_digit_classifier,
    save_digit_classifier,
    train_classifier,
)

from ._helpers import one_thread  # noqa: F401  (autouse)
from ._unsafe import assert_one_line, bad_out_files, crafted_checkpoint, unsafe_load_runs_code


def test_shipped_classifier_reaches_97_percent_on_the_test_split():
    model = load_digit_classifier()
    x, labels = digits16("test")  # 360 images never seen in training or model choice
    acc = evaluate_accuracy(model, x, labels)
    assert acc >= 0.97
    # the file is the one its record describes
    assert abs(acc - model.info["test_acc"]) < 1e-12
    assert sum(p.numel() for p in model.parameters()) < 250_000  # a small state dict


def test_features_are_the_penultimate_layer_in_eval_mode_and_scaled():
    model = load_digit_classifier()
    x = digits16("val")[0][:40]
    f = model.features(x)
    assert f.shape == (40, model.n_features)
    # dropout never applies to features, whatever mode the module was left in
    model.train()
    torch.testing.assert_close(model.features(x), f, rtol=0, atol=0)
    model.eval()
    # the logits are the head on ReLU(features * scale): features are the penultimate layer
    logits = model.head(torch.relu(f * model.feature_scale))
    torch.testing.assert_close(model.logits(x), logits, rtol=1e-5, atol=1e-5)
    # scale: unit root mean square over the training digits
    ft = model.features(digits16("train")[0])
    assert abs(float(ft.pow(2).mean().sqrt()) - 1.0) < 1e-5
    # the three accepted layouts give the same features
    torch.testing.assert_close(model.features(x.reshape(40, 256)), f)
    torch.testing.assert_close(model.features(x[:, None]), f)


def test_bad_input_and_bad_files_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="x: expected images of shape"):
        as_image_batch(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="NaN"):
        as_image_batch(np.full((1, 16, 16), np.nan))
    with pytest.raises(FileNotFoundError, match="--train"):
        load_digit_classifier(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"key": "something else"}, bad)
    with pytest.raises(ValueError, match="not a digit-classifier checkpoint"):
        load_digit_classifier(bad)


def test_shift_augmentation_moves_images_by_at_most_one_pixel():
    x = torch.full((50, 1, 16, 16), -1.0)
    x[:, :, 7, 7] = 1.0  # one bright pixel
    out = _shift(x, torch.Generator().manual_seed(0))
    pos = (out[:, 0] == 1.0).flatten(1).float().argmax(1)
    r, c = pos // 16, pos % 16
    assert ((out == 1.0).flatten(1).sum(1) == 1).all()  # content kept, background -1
    assert set(r.tolist()) <= {6, 7, 8} and set(c.tolist()) <= {6, 7, 8}
    assert len(set(zip(r.tolist(), c.tolist(), strict=True))) == 9  # all 9 offsets used


def test_short_seeded_training_learns_and_round_trips(tmp_path):
    model, log = train_classifier(epochs=2, seed=3)
    assert log["loss"][1] < log["loss"][0]
    assert log["val_acc_best"] > 0.5  # chance is 0.1
    path = tmp_path / "clf.pt"
    save_digit_classifier(model, path, {"note": "test"})
    back = load_digit_classifier(path)
    x = digits16("val")[0][:16]
    torch.testing.assert_close(back.features(x), model.features(x), rtol=0, atol=0)
    assert back.info == {"note": "test"}
    assert isinstance(back, DigitCNN) and not back.training


def test_crafted_file_and_bad_out_are_refused_with_one_line(tmp_path, capsys):
    from diffusion.digit_classifier import main

    marker = tmp_path / "MARKER"
    bad = crafted_checkpoint(tmp_path / "clf.pt", marker, key="digit_classifier16/v1")
    assert unsafe_load_runs_code(bad, marker)
    with pytest.raises(ValueError, match="clf.pt"):
        load_digit_classifier(bad)
    assert main(["--out", str(bad)]) == 2  # evaluate a crafted file
    assert_one_line(capsys.readouterr().err, bad)
    assert not marker.exists()
    for out, why in bad_out_files(tmp_path):
        assert main(["--train", "--epochs", "1", "--out", str(out)]) == 2
        assert_one_line(capsys.readouterr().err, "--out", why)
    assert main(["--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err
