"""The annual assessment report: pure assembly (assemble.py), reads (queries.py), HTML/PDF (render.py)."""
