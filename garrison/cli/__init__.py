"""The ``garrison`` command: one click group, one module per noun."""
