"""Triage: entity risk, incidents that group detections, and the case workflow."""
