"""Every option of every command shows a help line with its default (issue #19)."""

from __future__ import annotations

import argparse
import importlib

import pytest

#: The modules holding each command's ``build_parser()``.
COMMANDS = (
    "numerics.dp_curve.cli",
    "diffusion.experiments.toy2d.cli",
    "diffusion.training.train_prior",
    "diffusion.priors.fit_gmm",
    "diffusion.experiments.report_images",
    "diffusion.experiments.report_dps",
    "diffusion.baselines.pscgan_images_cli",
    "diffusion.metrics.digit_classifier",
    "diffusion.experiments.restore.cli",
    "diffusion.experiments.mcgdiff.cli",
)


@pytest.mark.parametrize("module", COMMANDS)
def test_every_option_has_help_showing_its_default(module):
    parser = importlib.import_module(module).build_parser()
    assert parser.format_help()  # formats (a stray % in a help line raises)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        name = "/".join(action.option_strings)
        assert action.help and action.help.strip(), f"{module} {name}: no help"
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            continue
        if action.default is argparse.SUPPRESS:
            continue
        shown = " ".join(formatter._expand_help(action).split())  # as --help prints it
        assert "default" in shown or (action.required and "required" in shown), (
            f"{module} {name}: help shows no default: {shown!r}"
        )
        if action.default is not None and "default" not in (action.help or ""):
            assert f"(default: {action.default})" in shown, f"{module} {name}: {shown!r}"
