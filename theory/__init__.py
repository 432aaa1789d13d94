"""theory: the paper's derivations as sympy code (imports sympy only)."""
