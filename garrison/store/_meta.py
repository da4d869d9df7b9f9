"""The state database's one MetaData, shared by the modules that declare tables (``state``, ``state_awareness``)."""

from sqlalchemy import MetaData

metadata = MetaData()
