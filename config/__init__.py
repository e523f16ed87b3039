# Load the Celery app whenever Django starts, so that @shared_task uses it in the web process too
# (otherwise `.delay()` there publishes through Celery's unconfigured default app).
from config.celery import app as celery_app

__all__ = ("celery_app",)
