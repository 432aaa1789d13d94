"""theory/ as a package: sympy-only imports, sound zero tests, the ``python -m theory`` CLI."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sympy as sp

import theory
from theory import __main__ as cli
from theory import _core, vp
from theory._core import Result, collect_matrix, reparametrize, vanishes, vanishes_rational
from theory.symbols import SCHEDULE, S, Sigma_t, Tex, alpha_t, alphabar_t, beta_t, d, eta

THEORY_DIR = Path(theory.__file__).parent


def test_imports_are_sympy_and_stdlib_only():
    """Static scan: every import in theory/ is sympy, a relative import, or plain stdlib."""
    for path in sorted(THEORY_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative
                    continue
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                assert name == "sympy" or name in sys.stdlib_module_names, (
                    f"{path.name} imports {name}"
                )


def test_runs_with_numpy_blocked():
    """Dynamic: theory/ imports and proves a result with numpy, scipy, torch and POT unimportable."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'numpy', 'scipy', 'torch', 'ot', 'numerics', 'diffusion'}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import theory, theory.vp, theory.reverse_posterior, theory.theorem1, theory.theorem2, theory.gmm\n"
        "import theory.tweedie\n"
        "import theory.__main__\n"
        "assert all(r.passed for r in theory.vp.checks())\n"
        "assert not any(m.split('.')[0] in {'numpy', 'scipy', 'torch', 'ot'} for m in sys.modules)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_vanishes_is_not_vacuous():
    """Broken identities are rejected: a missing factor, a wrong sign, a swapped
    non-commuting product, a wrong schedule relation."""
    Q = sp.MatrixSymbol("Q", d, d)
    K = sp.MatrixSymbol("K", d, d)
    assert vanishes(K * Q * K.T - K * Q * K.T)
    assert not vanishes(K * Q * K.T - K * K.T * Q)
    assert not vanishes(S * Sigma_t - Sigma_t * S)
    assert vanishes(S * S.I - sp.Identity(d))
    assert not vanishes(beta_t - (1 + alpha_t), SCHEDULE)
    assert vanishes(beta_t - (1 - alpha_t), SCHEDULE)
    # matrix kernel covariance: correct vs sign-flipped
    sig_tm1 = (Sigma_t - beta_t * sp.Identity(d)) / alpha_t
    C = sig_tm1 - alpha_t * sig_tm1 * Sigma_t.I * sig_tm1
    assert vanishes(C - beta_t * sig_tm1 * Sigma_t.I)
    assert not vanishes(C + beta_t * sig_tm1 * Sigma_t.I)
    assert not vanishes(C - sig_tm1 * Sigma_t.I)


def test_collect_matrix_expands_powers_of_sums():
    X = sp.MatrixSymbol("X", d, d)
    a = sp.Symbol("a")
    I = sp.Identity(d)
    assert collect_matrix((X + a * I) ** 2 - X**2 - 2 * a * X - a**2 * I) == sp.ZeroMatrix(d, d)
    assert collect_matrix((2 * X) ** 2 - 4 * X * X) == sp.ZeroMatrix(d, d)
    Y = sp.MatrixSymbol("Y", d, d)
    assert collect_matrix((X + Y) ** 2 - X**2 - 2 * X * Y - Y**2) != sp.ZeroMatrix(d, d)


def test_reparametrize_round_trip():
    I = sp.Identity(d)
    sig = alphabar_t * S + (1 - alphabar_t) * I
    assert vanishes(reparametrize(sig * sp.Inverse(sig), S, Sigma_t, alphabar_t) - I)
    assert vanishes(reparametrize(sig, S, Sigma_t, alphabar_t) - Sigma_t)
    assert not vanishes(reparametrize(S * sp.Inverse(sig), S, Sigma_t, alphabar_t) - I)


def test_vanishes_rational_rejects_wrong_tweedie():
    """One-step Tweedie on three atoms: proven with beta, rejected with 2 beta."""
    from theory.tweedie import tweedie_discrete

    td = tweedie_discrete(3)
    assert vanishes_rational(td["mean"] - td["mean_score"], squares=(alpha_t,))
    x = sp.Symbol("x", real=True)
    wrong = 2 * td["mean_score"] - x / sp.sqrt(alpha_t)  # (x + 2 beta dlog p_t)/sqrt(alpha)
    assert not vanishes_rational(td["mean"] - wrong, squares=(alpha_t,))
    assert not vanishes_rational(td["var"] - 2 * td["var_score"], squares=(alpha_t,))


def test_result_fragment_format():
    r = Result(
        "demo_name",
        True,
        "shown",
        _core.eq(Tex(r"\eta"), eta),
        "theory.vp.x",
        "tests/theory/test_vp.py::t",
    )
    frag = r.fragment()
    assert frag.startswith("$$\n\\eta = \\eta\n$$ (demo_name)\n")
    assert "`theory.vp.x`" in frag and "`tests/theory/test_vp.py::t`" in frag
    assert r.line().split()[:2] == ["demo_name", "PASS"]
    two = Result("two", False, "s", (_core.eq(eta, eta), _core.eq(eta, eta)), "f", "t")
    assert "\\begin{gathered}" in two.latex() and two.status == "FAIL"


def test_cli_writes_fragments(tmp_path, capsys):
    assert cli.main(["--only", "vp", "--latex", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [r.name for r in vp.checks()]
    assert [ln.split()[0] for ln in lines[: len(names)]] == names
    assert all(ln.split()[1] == "PASS" for ln in lines[: len(names)])
    for name in names:
        text = (tmp_path / f"{name}.md").read_text(encoding="utf-8")
        assert text.startswith("$$\n") and f"$$ ({name})\n" in text
        assert "Derived by `theory.vp." in text


def test_cli_exit_status_on_failure(monkeypatch, capsys):
    bad = Result("vp_broken", False, "deliberately failing", _core.eq(eta, 2 * eta), "x", "y")
    monkeypatch.setattr(vp, "checks", lambda: [bad])
    assert cli.main(["--only", "vp"]) == 1
    out = capsys.readouterr().out
    assert "vp_broken" in out and "FAIL" in out and "0/1 passed" in out


def test_python_dash_m_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "theory", "--only", "theorem2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "theorem2_dp_function" in out.stdout and "FAIL" not in out.stdout


def test_module_checks_collects_the_modules_own_checks_in_order():
    """``CHECKS`` holds the module's own check functions in definition order (imported ones
    left out); ``checks()`` runs them."""
    from theory import reverse_posterior as rp
    from theory import tweedie

    names = [c.__name__ for c in rp.CHECKS]
    assert names[:3] == ["check_kernel_eigen", "check_kernel_matrix", "check_score_mean"]
    assert names[-1] == "check_conditional_score" and len(names) == len(set(names)) == 9
    assert all(c.__module__ == "theory.reverse_posterior" for c in rp.CHECKS)
    assert not hasattr(tweedie, "CHECKS")
    ns = {"__name__": "demo", "vp_check": vp.CHECKS[0]}
    demo_checks, run_demo = _core.module_checks(ns)
    assert demo_checks == () and run_demo() == [] and run_demo.__module__ == "demo"
