"""Clients of outside services that more than one stage uses (Microsoft's APIs)."""
