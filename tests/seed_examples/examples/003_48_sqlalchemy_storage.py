# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 48 (line 2291), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

from edda import EddaApp
from edda.wsgi import create_wsgi_app
from edda.storage.sqlalchemy_storage import SQLAlchemyStorage

# Create storage and EddaApp
storage = SQLAlchemyStorage("sqlite:///edda.db")
app = EddaApp(storage=storage)

# Create WSGI application
wsgi_app = create_wsgi_app(app)
