# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 51 (line 2316), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.

$ uwsgi --http :8000 --wsgi-file demo_app.py --callable wsgi_application
