"""likeness's product: the ``likeness`` CLI and media loading today; the FastAPI app, auth,
storage and Celery workers with the service issue."""
