"""HTTP: the FastAPI application (ingest now; the console and APIs join it)."""
