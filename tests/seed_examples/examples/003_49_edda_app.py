# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 49 (line 2304), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

# In your module (e.g., demo_app.py):
from edda import EddaApp
from edda.wsgi import create_wsgi_app

application = EddaApp(...)  # ASGI
wsgi_application = create_wsgi_app(application)  # WSGI
