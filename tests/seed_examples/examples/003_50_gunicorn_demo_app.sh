# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 50 (line 2311), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.

# Command line:
$ gunicorn demo_app:wsgi_application --workers 4
