"""Storage: the event store (Parquet + manifest), the WAL, and the state database."""

from garrison.store.events import EventStore, from_row
from garrison.store.state import open_state
from garrison.store.wal import Wal

__all__ = ["EventStore", "Wal", "from_row", "open_state"]
