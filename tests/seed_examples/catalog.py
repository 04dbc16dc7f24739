"""What to do with each extracted example: the harness module that runs it, or why it cannot run yet.

``harness`` names a module in harnesses/ whose ``SCENARIOS`` has an entry for the id. ``status`` is ``run`` or
``pending: <reason>`` (skipped with that reason; only for what needs a package this workspace does not have yet).
``requires`` lists modules the harness needs beyond the workspace's dev group; without them the test is skipped
and says which. Shell and other non-Python blocks are ``recorded`` (listed in the manifest, not run).
"""

from __future__ import annotations

_RUN = "run"
_PROTOBUF = ("google.protobuf",)


def _run(harness: str, **extra: object) -> dict[str, object]:
    return {"harness": harness, "status": _RUN, **extra}


EXAMPLES: dict[str, dict[str, object]] = {
    # --- workflows, activities, timers, replay (harnesses/basics.py)
    "000_01_onboarding_reminder": _run("basics"),
    "000_03_order_workflow": _run("basics"),
    "001_01_onboarding_reminder": _run("basics"),
    "001_03_order_workflow": _run("basics"),
    "001_12_user_signup": _run("basics"),
    "001_13_long_running_workflow": _run("basics"),
    "001_21_process_order": _run("basics"),
    "001_28_order_with_timeout": _run("basics"),
    "001_35_payment_workflow": _run("basics"),
    "002_22_order_with_timeout": _run("basics"),
    "003_05_order_workflow": _run("basics"),
    "003_06_auto_workflow": _run("basics"),
    "003_07_long_running_workflow": _run("basics"),
    "003_08_my_activity": _run("basics"),
    "003_09_gather": _run("basics"),
    "003_10_reserve_inventory": _run("basics"),
    "003_18_order_workflow": _run("basics"),
    "003_19_scheduled_report": _run("basics"),
    "004_01_send_email": _run("basics"),
    "004_02_user_signup": _run("basics"),
    "004_03_process_order": _run("basics"),
    "004_04_long_running_workflow": _run("basics"),
    "004_07_resilient_workflow": _run("basics"),
    "004_12_order_workflow": _run("basics"),
    "004_13_inventory_workflow": _run("basics"),
    "004_14_fresh_inventory_check": _run("basics"),
    "004_15_batch_workflow": _run("basics"),
    "004_16_my_activity": _run("basics"),
    "004_23_process_order": _run("basics"),
    # --- retries and errors (harnesses/retries.py)
    "001_14_call_external_api": _run("retries"),
    "001_15_flaky_operation": _run("retries"),
    "001_16_edda_app": _run("retries"),
    "001_17_validate_user": _run("retries"),
    "001_18_event_type_event_data": _run("retries"),
    "003_43_retry_policy": _run("retries"),
    "003_44_retry_policy": _run("retries"),
    "003_45_retry_policy": _run("retries"),
    "003_46_my_activity": _run("retries"),
    "003_47_validate_user": _run("retries"),
    "004_06_call_external_api": _run("retries"),
    "004_08_critical_payment_api": _run("retries"),
    "004_09_validate_user": _run("retries"),
    "004_10_order_workflow": _run("retries"),
    "004_20_ai_research_workflow": _run("retries"),
    # --- saga and compensation (harnesses/saga.py)
    "001_19_order_workflow": _run("saga"),
    "003_35_cancel_reservation": _run("saga"),
    "003_36_reserve_inventory": _run("saga"),
    "003_37_order_workflow": _run("saga"),
    "004_17_order_workflow": _run("saga"),
    "004_19_saga_workflow": _run("saga"),
    # --- events (harnesses/events.py)
    "000_05_order_created": _run("events", requires=_PROTOBUF),
    "000_06_order_created": _run("events", requires=_PROTOBUF),
    "001_25_payment_workflow": _run("events"),
    "001_26_wait_event": _run("events"),
    "001_27_wait_event": _run("events"),
    "001_39_order_created": _run("events", requires=_PROTOBUF),
    "001_40_order_created": _run("events", requires=_PROTOBUF),
    "003_20_order_workflow": _run("events"),
    "003_21_order_workflow_typed": _run("events"),
    "003_22_send_event": _run("events"),
    "003_23_order_created": _run("events"),
    "003_24_wait_event": _run("events"),
    "003_25_wait_event": _run("events"),
    "003_26_event_source": _run("events"),
    "003_27_wait_event": _run("events"),
    # --- channels and recurrence (harnesses/channels.py)
    "001_29_job_worker": _run("channels"),
    "001_30_job_worker": _run("channels"),
    "003_04_notification_service": _run("channels"),
    "003_13_notification_service": _run("channels"),
    "003_28_subscribe": _run("channels"),
    "003_29_event_handler": _run("channels"),
    "003_30_consumer": _run("channels"),
    "003_31_order_processor": _run("channels"),
    "003_32_api_handler": _run("channels"),
    "003_33_publish": _run("channels"),
    "003_34_approver": _run("channels"),
    # --- transactions and the outbox (harnesses/outbox.py)
    "001_22_create_order": _run("outbox"),
    "001_23_process_payment": _run("outbox"),
    "001_24_edda_app": _run("outbox"),
    "003_11_create_order": _run("outbox"),
    "003_40_reserve_inventory": _run("outbox"),
    "003_41_reserve_inventory_typed": _run("outbox"),
    # --- app configuration, hooks, queries (harnesses/config.py)
    "001_07_edda_app": _run("config"),
    "001_08_edda_app": _run("config"),
    "001_20_edda_app": _run("config"),
    "001_38_my_hooks": _run("config"),
    "002_16_edda_app": _run("config"),
    "003_01_find_instances": _run("config"),
    "003_02_find_instances": _run("config"),
    "003_42_my_hooks": _run("config"),
    "004_21_edda_app": _run("config"),
    # --- HTTP: ASGI mount, WSGI (harnesses/servers.py)
    "001_32_fast_api": _run("servers"),
    "001_33_edda_app": _run("servers"),
    "003_48_sqlalchemy_storage": _run("servers"),
    # --- listings the harnesses check output against
    "004_05_step_0_starting": {"status": "recorded", "output_of": "004_04_long_running_workflow"},
    "004_18_reserved_item1": {"status": "recorded", "output_of": "004_17_order_workflow"},
    # --- arguments elided with `...`: syntax, imports and the API paths they use (harnesses/elided.py)
    "003_03_handle_order_created": _run("elided"),
    "003_12_in_transaction": _run("elided"),
    "003_14_deliver_notifications": _run("elided"),
    "003_15_transaction": _run("elided"),
    "003_49_edda_app": _run("elided"),
    # --- MCP: durable tools and prompts (harnesses/mcp.py)
    "001_36_process_payment": _run("mcp"),
    "001_37_analyze_workflow": _run("mcp"),
}
