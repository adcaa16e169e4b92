"""gunicorn entry point: `gunicorn skypost_web.wsgi:app`."""
from skypost_web import create_app

app = create_app()
