"""Enrichment: each enricher adds only its own fields to an event."""

from garrison.enrich.geo import GeoLookup
from garrison.enrich.inventory import Inventory, load_inventory

__all__ = ["GeoLookup", "Inventory", "load_inventory"]
