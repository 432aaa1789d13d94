"""docs/images.md quotes its tables exactly as ``python -m diffusion.report_images`` prints them.

The runs' results.json are committed under docs/figures/images/runs/, so a page edited by hand,
or a run re-made without updating the page, fails here.
"""

from pathlib import Path

import pytest

from diffusion.experiments.report_images import main, tables

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "docs" / "figures" / "images" / "runs"
PAGE = ROOT / "docs" / "images.md"


@pytest.fixture(scope="module")
def tabs():
    return tables(RUNS)


def test_every_committed_run_is_found(tabs):
    for name, lines in tabs.items():
        assert not any("(missing)" in line for line in lines), name


@pytest.mark.parametrize(
    "name", ["exact_variance", "beta_tilde", "beta", "unimodal", "convergence_128", "zeta", "dps",
             "perception", "dataset", "distortion"],
)  # fmt: skip
def test_page_quotes_the_table(tabs, name):
    page = PAGE.read_text()
    for line in tabs[name][2:]:  # data rows (the header separator style may differ)
        assert line in page, f"{name}: row not on the page: {line}"


def test_exact_variance_rows_meet_the_issue_bar(tabs):
    """(a): MSE(η=1)/MMSE within 4 sd of 2 for every task and σ_y, read from the runs."""
    for line in tabs["exact_variance"][2:]:
        z = float(line.split("|")[-2])
        assert abs(z) <= 4.0, line


def test_cli_prints_tables_and_rejects_unknown(capsys, tmp_path):
    assert main([str(RUNS), "--only", "zeta"]) == 0
    assert "| deblur |" in capsys.readouterr().out
    # Usage errors: exit status 2 and one line naming the option (numerics.cli's rule).
    assert main([str(RUNS), "--only", "nope"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "python -m diffusion.report_images: error: --only: unknown table 'nope'; expected some "
        "of ['exact_variance', 'beta_tilde', 'beta', 'unimodal', 'convergence', "
        "'convergence_128', 'zeta', 'dps', 'perception', 'dataset', 'distortion']"
    ]
    assert main([str(tmp_path / "absent")]) == 2
    assert "runs:" in capsys.readouterr().err


LEARNED_RUNS_DIR = ROOT / "docs" / "figures" / "learned" / "runs"
LEARNED_PAGE = ROOT / "docs" / "learned.md"


def test_learned_page_quotes_its_tables():
    from diffusion.experiments.report_images import learned_tables

    page = LEARNED_PAGE.read_text()
    for name, lines in learned_tables(LEARNED_RUNS_DIR).items():
        assert not any("(missing)" in line for line in lines), name
        for line in lines[2:]:
            assert line in page, f"{name}: row not on the page: {line}"


def test_convergence_figure_is_written_atomically(tmp_path, monkeypatch):
    """A crash while the PNG is written keeps the previous figure and leaves no temporary."""
    import matplotlib.figure

    from diffusion.experiments.report_images import convergence_figure

    path = convergence_figure(RUNS, tmp_path / "conv.png")
    good = path.read_bytes()

    def dies_half_way(self, fname, **kw):
        Path(fname).write_bytes(b"\x89PNG partial")
        raise RuntimeError("killed")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", dies_half_way)
    with pytest.raises(RuntimeError, match="killed"):
        convergence_figure(RUNS, path)
    assert path.read_bytes() == good and [p.name for p in tmp_path.iterdir()] == ["conv.png"]
