# Extracted from the seed 003_98fb4c9670be06ad.txt, code block 42 (line 2104), by tests/seed_examples/extract.py.
# Do not edit: run extract.py again when the seeds change.
# The seed lost this block's layout; only line breaks and indentation were restored.
# ruff: noqa
# fmt: off

class MyHooks(HooksBase):
    async def on_workflow_start(self, instance_id, workflow_name, input_data):
        print(f"Workflow started: {workflow_name}")
        # Other methods are no-ops (inherited from HooksBase)
