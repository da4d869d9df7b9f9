"""The pipeline: sources -> parse -> enrich -> detect -> triage -> respond -> store.

``Pipeline.process`` runs the in-memory stages on a batch of raw records;
``runner`` drives it from files (import) or from the WAL (serve).
"""

from garrison.pipeline.pipeline import Batch, Counters, Pipeline, Stage, build_pipeline

__all__ = ["Batch", "Counters", "Pipeline", "Stage", "build_pipeline"]
