"""The scientists' HTTP API: station catalogue, observations, indicators and alerts (``tidewatch api``).

Read-only over the database the stream workers fill; every unit and QC flag is named in the output and
every time is UTC ISO 8601. ``create_app`` builds the FastAPI app, ``serve`` runs it under uvicorn.
"""
