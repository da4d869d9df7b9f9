"""Synthetic but realistic logs of an organisation, in the real formats the parsers read."""

from garrison.simulate.demo import write_demo_logs

__all__ = ["write_demo_logs"]
