"""The decisive tests: the generated Mermaid renders in a real browser, with the labels the reader should see.

Mermaid is the copy bundled in the installed nicegui package, served to the system Chromium through Playwright's
request routing (the network is closed; nothing is fetched from a CDN). Every diagram goes through
``mermaid.parse`` and ``mermaid.render``; the SVG's node labels are compared with what each node was meant to say.
Mermaid does not always fail on bad input (an unescaped quote silently cuts a label short), so a render without an
error is not enough: the text is checked too.

Hybrid diagrams come from real instances run on a real SQLite file: one completed, one failed, one waiting in
``wait_event``, one cancelled while waiting (its compensations run).
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edda import (
    EddaApp,
    InstanceStatus,
    TerminalError,
    WorkflowContext,
    activity,
    compensation,
    on_failure,
    wait_event,
    workflow,
)
from edda_viewer.visualizer import (
    WorkflowAnalyzer,
    analyze_workflow,
    escape_mermaid_label,
    hybrid_diagram,
    render_mermaid,
)
from edda_viewer.visualizer._escape import ELLIPSIS, unescape_mermaid_label

pytestmark = pytest.mark.xdist_group("test_visualizer_render")  # one browser for the module's tests

CHROMIUM = Path("/usr/bin/chromium")
MERMAID_SYNTAX = [*list("\"#&<>`$%{}[]()|;:\\'-.=\n"), "#quot;", "%%{", "$$", "-->", "end", "<br/>", "&amp;"]
SEED_EXAMPLES = Path(__file__).resolve().parents[3] / "tests" / "seed_examples" / "examples"
_HTML = """<!doctype html><html><body><script type="module">
import { mermaid } from "./index.js";
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
window.mermaid = mermaid;
window.mermaidReady = true;
</script></body></html>"""
_RENDER_JS = """async ([id, code]) => {
  try {
    await mermaid.parse(code);
    const { svg } = await mermaid.render(id, code);
    const box = document.createElement("div");
    box.innerHTML = svg;
    const nodes = [...box.querySelectorAll("g.node")].map((n) => ({
      id: n.id, classes: (n.getAttribute("class") || "").split(/\\s+/), text: n.textContent,
    }));
    const edges = [...box.querySelectorAll("g.edgeLabel")].map((e) => e.textContent).filter((t) => t);
    const clusters = [...box.querySelectorAll(".cluster-label")].map((e) => e.textContent);
    const injected = box.querySelectorAll("foreignObject script, foreignObject b, foreignObject img").length;
    return { ok: svg.startsWith("<svg"), nodes, edges, clusters, injected };
  } catch (e) {
    return { ok: false, error: String((e && e.message) || e) };
  }
}"""
_DECLARED = re.compile(r'^\s*([A-Za-z][\w]*)(?:\(\[|\[\[|\[/|\{\{|\(|\[|\{|>)"([^"]*)"', re.MULTILINE)


def _mermaid_dist() -> Path | None:
    spec = importlib.util.find_spec("nicegui")
    if spec is None or spec.origin is None:
        return None
    dist = Path(spec.origin).parent / "elements" / "mermaid" / "dist"
    return dist if (dist / "index.js").is_file() else None


@dataclass
class Rendered:
    nodes: dict[str, dict[str, Any]]  # node id in the Mermaid source -> {"classes": [...], "text": ...}
    edges: list[str]
    clusters: list[str]
    injected: int

    def node(self, prefix: str) -> dict[str, Any]:
        """The one node whose label starts with ``prefix``."""
        found = [n for n in self.nodes.values() if n["text"].startswith(prefix)]
        assert len(found) == 1, f"expected one node labelled {prefix!r}, found {[n['text'] for n in found]}"
        return found[0]


class MermaidBrowser:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def render(self, code: str) -> Rendered:
        self.count += 1
        result = self.page.evaluate(_RENDER_JS, [f"diagram{self.count}", code])
        assert result["ok"], f"Mermaid failed: {result.get('error')}\n{code}"
        nodes: dict[str, dict[str, Any]] = {}
        for node in result["nodes"]:
            match = re.search(r"flowchart-(.+)-\d+$", node["id"])
            assert match, node["id"]
            nodes[match.group(1)] = node
        return Rendered(nodes, result["edges"], result["clusters"], result["injected"])

    def render_checked(self, code: str) -> Rendered:
        """Render, and check that every node shows exactly the text its declaration meant."""
        rendered = self.render(code)
        for node_id, label in _DECLARED.findall(code):
            if node_id == "subgraph":
                continue
            assert node_id in rendered.nodes, f"node {node_id} missing from the SVG"
            expected = unescape_mermaid_label(label.replace("<br/>", ""))
            assert rendered.nodes[node_id]["text"] == expected, code
        return rendered


@pytest.fixture(scope="module")
def browser() -> Iterator[MermaidBrowser]:
    if not CHROMIUM.exists():
        pytest.skip("needs the system Chromium at /usr/bin/chromium (apt-get install chromium)")
    dist = _mermaid_dist()
    if dist is None:
        pytest.skip("needs nicegui installed (its bundled Mermaid is what the viewer renders with)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (in the workspace's dev group)")

    def serve(route: Any) -> None:
        name = route.request.url.rsplit("/", 1)[-1]
        if name == "index.html":
            route.fulfill(body=_HTML, content_type="text/html")
        elif (dist / name).is_file():
            route.fulfill(body=(dist / name).read_bytes(), content_type="text/javascript")
        else:
            route.fulfill(status=404, body="")

    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = chromium.new_page()
        page.route("http://mermaid.test/**", serve)
        page.goto("http://mermaid.test/index.html")
        page.wait_for_function("window.mermaidReady === true")
        yield MermaidBrowser(page)
        chromium.close()


# -- adversarial labels, in every quoted position ---------------------------------------------------------------

ADVERSARIAL = [
    "f'workflow.continue:{session_id}'",
    "he said \"hi\" and 'bye'",
    "a[b]{c}(d)|e;f#g<h>&i",
    "<script>alert(1)</script><b>bold</b><img src=x onerror=alert(1)>",
    "`markdown` **not** _this_",
    "$$x^2$$ and $y$",
    '%%{init: {"theme": "dark"}}%% %% comment',
    "#quot; #35; &amp; &lt; #lt;",
    "line one\nline two\r\n\ttabbed",
    "ünïcødé 日本語 😀 👩‍👩‍👧 \u200b\u202e rtl",
    "end",
    "subgraph end graph TD",
    "A-->B -.-> C ==> D",
    "x" * 200,
]


def _expected(text: str, max_len: int = 60) -> str:
    shown = " ".join("".join(" " if c.isspace() or unicodedata.category(c) == "Cc" else c for c in text).split())
    if len(shown) > max_len:
        shown = shown[: max_len - 1].rstrip() + ELLIPSIS
    return "".join("\ufffd" if unicodedata.category(c) == "Cs" else c for c in shown)


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_adversarial_labels_render_exactly_in_every_shape(browser: MermaidBrowser, text: str) -> None:
    label = escape_mermaid_label(text)
    code = (
        "flowchart TD\n"
        f'    subgraph g1["{label}"]\n        A["{label}"]\n    end\n'
        f'    B{{{{"{label}"}}}}\n    C{{"{label}"}}\n    D(["{label}"])\n    E[/"{label}"\\]\n    F>"{label}"]\n'
        f'    A -->|"{label}"| B\n    B --> C\n    C -.->|"{label}"| D\n    D --> E\n    E --> F\n'
    )
    rendered = browser.render(code)
    for node_id in "ABCDEF":
        assert rendered.nodes[node_id]["text"] == _expected(text), node_id
    assert rendered.edges == [_expected(text), _expected(text)]
    assert rendered.clusters == [_expected(text)]
    assert rendered.injected == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(MERMAID_SYNTAX), st.characters()), max_size=40).map("".join))
def test_any_text_renders_as_itself(browser: MermaidBrowser, text: str) -> None:
    expected = _expected(text)
    assume(expected)
    label = escape_mermaid_label(text)
    rendered = browser.render(f'flowchart TD\n    A["{label}"] -->|"{label}"| B{{{{"{label}"}}}}\n')
    assert rendered.nodes["A"]["text"] == expected
    assert rendered.nodes["B"]["text"] == expected
    assert rendered.edges == [expected]


def test_adversarial_workflow_source_renders(browser: MermaidBrowser) -> None:
    source = """
@workflow
async def tricky(ctx, session_id: str, data: dict):
    await wait_event(ctx, event_type=f"workflow.continue:{session_id}")
    await wait_event(ctx, 'quoted "event" type', timeout_seconds=30)
    await send_event("a[b]{c}|d;e#f<g>&h`i`", "src", {})
    await receive(ctx, "ünïcødé 日本語 😀")
    await publish(ctx, "<script>alert(1)</script>", {})
    await a_really_long_activity_name_that_goes_on_and_on_and_on_and_on_and_on_forever(ctx)
    await charge(ctx, activity_id=f"charge:{data['id']}")
    if data["k"] == "}}{{" or data.get('"') | 1:
        await notify(ctx)
    match data["status"]:
        case "a|b" | '"q"':
            await handle(ctx)
        case {"x": [1, 2]} if data["y"] > 0:
            await other(ctx)
"""
    code = render_mermaid(analyze_workflow(source))
    rendered = browser.render_checked(code)
    texts = {n["text"] for n in rendered.nodes.values()}
    assert "wait_event: f'workflow.continue:{session_id}'" in texts
    assert 'wait_event: quoted "event" typetimeout: 30 s' in texts
    assert "send_event: a[b]{c}|d;e#f<g>&h`i`" in texts
    assert "receive: ünïcødé 日本語 😀" in texts
    assert "publish: <script>alert(1)</script>" in texts
    assert "chargeid: f\"charge:{data['id']}\"" in texts
    assert any(t.endswith(ELLIPSIS) and t.startswith("a_really_long") for t in texts)
    assert "data['k'] == '}}{{' or data.get('\"') | 1" in texts
    assert "case 'a|b' | '\"q\"'" in rendered.edges
    assert "case {'x': [1, 2]} if data['y'] > 0" in rendered.edges
    assert rendered.injected == 0


# -- every shape the analyzer knows, and every workflow of the seed documents ------------------------------------

SHAPES = '''
@workflow
async def shapes(ctx: WorkflowContext, order_id: str, items: list[str], amount: float):
    """Every construct at once."""
    await subscribe(ctx, "payment.completed", mode="broadcast")
    reservation = await reserve_inventory(ctx, order_id)
    if not await check_stock(ctx, order_id):
        await notify_out_of_stock(ctx, order_id)
    elif amount > 100:
        await billing.escalate(ctx, amount)
    for item in items:
        if item == "skip":
            continue
        await process_item(ctx, item, activity_id=f"process_item:{item}")
        if item == "last":
            break
    else:
        await all_items_done(ctx)
    results = await asyncio.gather(*[pack(ctx, i) for i in items], label_order(ctx, order_id))
    tasks = [ship(ctx, i) for i in items]
    await asyncio.gather(*tasks)
    try:
        payment = await charge(ctx, order_id, amount)
    except RetryExhaustedError as e:
        await notify_payment_team(ctx, order_id)
        raise
    except Exception:
        pass
    finally:
        await audit(ctx, order_id)
    match payment["status"]:
        case "approved" | "ok":
            await confirm(ctx, order_id)
        case status if status.startswith("pending"):
            await wait_timer(ctx, duration_seconds=3600)
    approval = await wait_event(ctx, "order.approved", timeout_seconds=600)
    await sleep(ctx, 3 * 24 * 60 * 60)
    await sleep_until(ctx, deadline)
    await register_compensation(ctx, release_inventory, activity_id="reserve_inventory:1", rid=reservation["id"])
    async with ctx.transaction():
        await send_event_transactional(ctx, "order.shipped", "orders", {"id": order_id})
        await record_shipment(ctx, order_id)
    await send_event("order.done", "orders", {"id": order_id})
    await send_to(ctx, instance_id="parent-1", data={"ok": True})
    while True:
        msg = await receive(ctx, "jobs", timeout_seconds=30)
        if msg.data.get("stop"):
            return {"stopped": True}
        await ctx.recur(order_id=order_id)
'''


def test_every_shape_renders_with_its_labels(browser: MermaidBrowser) -> None:
    code = render_mermaid(analyze_workflow(SHAPES))
    rendered = browser.render_checked(code)
    texts = [n["text"] for n in rendered.nodes.values()]
    for expected in [
        "shapes",
        "subscribe: payment.completed (broadcast)",
        "reserve_inventory",
        "not await check_stock(ctx, order_id)",
        "billing.escalate",
        "for item in items",
        "asyncio.gather",
        "for i in items",
        "try",
        "except RetryExhaustedError as e",
        "finally",
        "match payment['status']",
        "wait_timer: 1 h",
        "wait_event: order.approvedtimeout: 10 min",
        "sleep: 3 d",
        "sleep_until: deadline",
        "register_compensation: release_inventoryid: reserve_inventory:1",
        "↩ release_inventory",
        "send_event_transactional()",
        "record_shipment",
        "send_event: order.done",
        "send_to: parent-1",
        "while True",
        "receive: jobstimeout: 30 s",
        "ctx.recur()restarts with fresh history",
        "end",
    ]:
        assert expected in texts, expected
    assert rendered.clusters == ["ctx.transaction()"]
    for label in [
        "yes",
        "no",
        "each",
        "done",
        "compensation",
        "recur",
        "RetryExhaustedError",
        "case 'approved' | 'ok'",
    ]:
        assert label in rendered.edges, label


def _seed_workflows() -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for path in sorted(SEED_EXAMPLES.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for wf in WorkflowAnalyzer().analyze(source):
            found.append((path.stem, wf["name"], source))
    return found


SEEDS = _seed_workflows()


def test_the_seed_documents_hold_many_workflows() -> None:
    assert len(SEEDS) >= 40, [s[:2] for s in SEEDS]


@pytest.mark.parametrize(("example", "name", "source"), SEEDS, ids=[f"{s[0]}:{s[1]}" for s in SEEDS])
def test_every_seed_workflow_renders(browser: MermaidBrowser, example: str, name: str, source: str) -> None:
    graph = analyze_workflow(source, name=name)
    rendered = browser.render_checked(render_mermaid(graph))
    assert rendered.nodes["Start"]["text"] == name
    assert "End" in rendered.nodes
    assert len(rendered.nodes) >= len(graph.steps()) + 2


# -- hybrid diagrams of real instances on SQLite -----------------------------------------------------------------


@compensation
async def undo_reserve(ctx: WorkflowContext, item: str) -> None:
    return None


@activity
@on_failure(undo_reserve)
async def reserve(ctx: WorkflowContext, item: str) -> dict[str, str]:
    return {"item": item}


@activity
async def charge(ctx: WorkflowContext, amount: float) -> dict[str, bool]:
    if amount > 100:
        raise TerminalError("card declined")
    return {"charged": True}


@activity
async def ship(ctx: WorkflowContext, item: str) -> None:
    return None


@workflow
async def viz_order(ctx: WorkflowContext, items: list[str], amount: float) -> dict[str, bool]:
    for item in items:
        await reserve(ctx, item)
    await charge(ctx, amount)
    if amount > 50:
        await wait_event(ctx, "order.approved")
    await ship(ctx, items[0])
    return {"shipped": True}


@dataclass
class Instance:
    status: str
    wait: dict[str, Any] | None
    history: list[Any]


async def _until_waiting(app: EddaApp, instance_id: str) -> None:
    for _ in range(1000):
        record = await app.get_instance(instance_id)
        if record is not None and record.status == InstanceStatus.WAITING_FOR_EVENT:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"instance {instance_id} never waited")


async def _run_instances(db: Path) -> dict[str, Instance]:
    async with EddaApp(service_name="viz", db_url=f"sqlite:///{db}") as app:
        ids = {
            "completed": await viz_order.start(items=["a", "b"], amount=10),
            "failed": await viz_order.start(items=["a"], amount=500),
            "waiting": await viz_order.start(items=["a"], amount=60),
            "cancelled": await viz_order.start(items=["a", "b"], amount=70),
        }
        await app.wait_for_result(ids["completed"], timeout=30)
        with pytest.raises(Exception, match="card declined"):
            await app.wait_for_result(ids["failed"], timeout=30)
        await _until_waiting(app, ids["waiting"])
        await _until_waiting(app, ids["cancelled"])
        await app.cancel_workflow(ids["cancelled"])
        with pytest.raises(Exception, match="cancelled"):
            await app.wait_for_result(ids["cancelled"], timeout=30)
        found: dict[str, Instance] = {}
        for scenario, instance_id in ids.items():
            record = await app.get_instance(instance_id)
            assert record is not None
            history = await app.storage.get_history(instance_id)
            found[scenario] = Instance(record.status, dict(record.wait) if record.wait else None, history)
        return found


@pytest.fixture(scope="module")
def instances(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Instance]:
    db = tmp_path_factory.mktemp("viz") / "viz.db"
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(_run_instances(db))).result()


def _classes(code: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for ids, name in re.findall(r"^\s*class (\S+) (\w+)$", code, re.MULTILINE):
        for node_id in ids.split(","):
            found.setdefault(node_id, set()).add(name)
    return found


def _diagram(instance: Instance, *, with_code: bool = True) -> str:
    target = viz_order if with_code else None
    return hybrid_diagram(target, instance.history, status=instance.status, wait=instance.wait, name="viz_order")


def test_completed_instance(browser: MermaidBrowser, instances: dict[str, Instance]) -> None:
    instance = instances["completed"]
    assert instance.status == "completed"
    rendered = browser.render_checked(_diagram(instance))
    assert "completed" in rendered.node("reserve")["classes"]
    assert rendered.node("reserve")["text"] == "reserve✓ done · ×2"
    assert "completed" in rendered.node("charge")["classes"]
    assert "completed" in rendered.node("ship")["classes"]
    assert "notReached" in rendered.node("wait_event: order.approved")["classes"]
    assert "notReached" in rendered.node("↩ undo_reserve")["classes"]
    assert "completed" in rendered.nodes["End"]["classes"]
    assert rendered.nodes["End"]["text"] == "completed"


def test_failed_instance(browser: MermaidBrowser, instances: dict[str, Instance]) -> None:
    instance = instances["failed"]
    assert instance.status == "failed"
    rendered = browser.render_checked(_diagram(instance))
    assert "failed" in rendered.node("charge")["classes"]
    assert rendered.node("charge")["text"] == "charge✗ failed: TerminalError"
    assert "compensated" in rendered.node("reserve")["classes"]
    assert "compensated" in rendered.node("↩ undo_reserve")["classes"]
    assert "notReached" in rendered.node("ship")["classes"]
    assert "notReached" in rendered.node("wait_event")["classes"]
    assert "failed" in rendered.nodes["End"]["classes"]
    assert "compensate" in rendered.edges


def test_waiting_instance(browser: MermaidBrowser, instances: dict[str, Instance]) -> None:
    instance = instances["waiting"]
    assert instance.status == "waiting_for_event"
    rendered = browser.render_checked(_diagram(instance))
    current = rendered.node("wait_event: order.approved")
    assert "current" in current["classes"]
    assert current["text"] == "wait_event: order.approved⏳ waiting for order.approved"
    assert "completed" in rendered.node("reserve")["classes"]
    assert "completed" in rendered.node("charge")["classes"]
    assert "notReached" in rendered.node("ship")["classes"]
    assert "notReached" in rendered.nodes["End"]["classes"]
    assert [n for n in rendered.nodes.values() if "current" in n["classes"]] == [current]


def test_cancelled_instance_with_compensations(browser: MermaidBrowser, instances: dict[str, Instance]) -> None:
    instance = instances["cancelled"]
    assert instance.status == "cancelled"
    rendered = browser.render_checked(_diagram(instance))
    assert "compensated" in rendered.node("reserve")["classes"]
    assert rendered.node("↩ undo_reserve")["text"] == "↩ undo_reserve↩ ran ×2"
    assert "compensated" in rendered.node("↩ undo_reserve")["classes"]
    assert "completed" in rendered.node("charge")["classes"]
    assert "notReached" in rendered.node("ship")["classes"]
    assert "cancelled" in rendered.nodes["End"]["classes"]


@pytest.mark.parametrize("scenario", ["completed", "failed", "waiting", "cancelled"])
def test_history_only_diagrams_render(browser: MermaidBrowser, instances: dict[str, Instance], scenario: str) -> None:
    instance = instances[scenario]
    code = _diagram(instance, with_code=False)
    rendered = browser.render_checked(code)
    assert rendered.nodes["Start"]["text"] == "viz_order"
    reserve_node = rendered.node("reserve")
    assert reserve_node["classes"] != ["node", "default"]
    classes = _classes(code)
    styled = {name for names in classes.values() for name in names}
    assert styled <= {"completed", "current", "failed", "compensated", "notReached", "cancelled"}
    if scenario == "waiting":
        assert "current" in rendered.node("wait_event: order.approved")["classes"]
    if scenario == "failed":
        assert "failed" in rendered.node("charge")["classes"]
