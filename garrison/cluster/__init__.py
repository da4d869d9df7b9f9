"""Sharing with neighbouring organisations: indicators out as STIX 2.1 and MISP feeds, others' feeds in."""
