"""Hunting: Sigma rules over files, as Chainsaw and Hayabusa do, through the live pipeline itself.

Records are read, parsed and normalised exactly as ``garrison import`` and ``garrison serve`` do them, then
matched by the Sigma stage; detections and unreadable records stay in memory instead of the store. One schema,
one set of field maps: a rule that fires in ``hunt`` fires on the same record live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from garrison.config import Config
from garrison.detect.sigma.engine import SigmaEngine
from garrison.detect.sigma.routing import Routing
from garrison.detect.sigma.stage import SigmaStage
from garrison.model import Reject
from garrison.model.detection import Detection
from garrison.pipeline.components import make_deps
from garrison.pipeline.pipeline import Pipeline, _assemble
from garrison.pipeline.runner import _batches
from garrison.sources.files import Limits, expand, read_file

BATCH = 2000


@dataclass
class HuntStats:
    records: int = 0
    rejects: int = 0
    detections: int = 0


class Hunter:
    """The pipeline's parse step and its Sigma stage over one rule set, with nothing stored."""

    def __init__(self, config: Config, rules: list[SigmaRule], correlations: list[SigmaCorrelationRule],
                 routing: Routing | None = None, placeholders: dict[str, list[str]] | None = None,
                 engine: SigmaEngine | None = None):
        self.engine = engine or SigmaEngine(rules, correlations, routing=routing,
                                            placeholders=placeholders, max_groups=config.detect.sigma.max_groups)
        self.pipeline: Pipeline = _assemble(config, make_deps(config, None), [SigmaStage(self.engine)])

    def hunt(self, paths: Iterable[str | Path], stats: HuntStats | None = None,
             progress: Callable[[int], None] | None = None) -> Iterator[Detection | Reject]:
        stats = stats or HuntStats()
        i = self.pipeline.config.ingest
        limits = Limits(i.max_line_bytes, i.max_decompressed_bytes, i.max_compression_ratio)
        for f in expand(paths):
            for records in _batches(read_file(f, limits=limits), BATCH):
                batch = self.pipeline.process(records)
                stats.records += len(records)
                stats.rejects += len(batch.rejects)
                stats.detections += len(batch.detections)
                yield from batch.rejects
                yield from batch.detections
                if progress is not None:
                    progress(len(records))
        for d in self.engine.flush():
            stats.detections += 1
            yield d
