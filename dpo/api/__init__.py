"""`dpo serve`: the JSON API for dashboards (FastAPI), over the same library as the CLI."""
