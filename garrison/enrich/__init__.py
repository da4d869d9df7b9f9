"""Enrichment: each enricher adds only its own fields to an event (the inventory it reads is ``garrison.model.inventory``)."""

from garrison.enrich.geo import GeoLookup

__all__ = ["GeoLookup"]
