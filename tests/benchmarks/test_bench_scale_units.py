"""The scale benchmarks' own logic: which cells run where, how variants scale, how W9 counts ownership violations."""

from __future__ import annotations

from benchmarks.model import Cell, Options
from benchmarks.runner import _cells, _extra
from benchmarks.scaledetail import w9
from benchmarks.scaleout import _shares, ownership
from benchmarks.scalesys import event_data, make_payload, payload_len


def test_dbos_gets_no_mysql_cells_and_w9_runs_on_servers_only() -> None:
    opts = Options(dbs=("sqlite", "postgres", "mysql"), workloads=("W9",), systems=("edda", "dbos"))
    cells = _cells(opts)
    assert {(c.db, c.system) for c in cells} == {("postgres", "edda"), ("postgres", "dbos"), ("mysql", "edda")}
    assert sorted({c.variant for c in cells}) == ["1 process", "2 processes", "4 processes"]


def test_recur_variant_is_edda_only() -> None:
    cells = _cells(Options(dbs=("sqlite",), workloads=("W7",), systems=("edda", "edda-framework")))
    recurring = [c for c in cells if "recur" in c.variant]
    assert [c.system for c in recurring] == ["edda"]
    assert len(cells) == 7  # four variants for edda, three for the peer


def test_scaled_variant_values_follow_scale_with_floors() -> None:
    cell = Cell("W7", "sqlite", "edda", "N=10,000, recur every 1,000")
    assert _extra(cell, 1.0) == {"steps": "10000", "recur": "1000"}
    assert _extra(cell, 0.01) == {"steps": "100", "recur": "10"}
    assert _extra(cell, 0.0001) == {"steps": "2", "recur": "1"}
    payload = Cell("W10", "postgres", "edda", "1 MB bytes")
    assert _extra(payload, 0.01) == {"size": str(1024 * 1024), "encoding": "bytes", "workflows": "2"}


def test_shares_cover_every_workflow_once() -> None:
    shares = _shares(10, 4)
    assert shares == [(0, 3), (3, 3), (6, 2), (8, 2)]
    covered = [k for first, count in shares for k in range(first, first + count)]
    assert covered == list(range(10))


def test_ownership_counts_cross_process_instances_and_extra_executions() -> None:
    clean = [{"executions": {"a": 3, "b": 3}}, {"executions": {"c": 3}}]
    assert ownership(clean) == (0, 0)
    stolen = [{"executions": {"a": 2, "b": 3}}, {"executions": {"a": 2, "c": 3}}]
    assert ownership(stolen) == (1, 1)  # "a" ran in both processes, four executions for three activities
    redone = [{"executions": {"a": 5}}]
    assert ownership(redone) == (0, 2)


def test_w9_detail_reports_violations() -> None:
    text = w9({"throughput": 812.4, "worker_cores": 1.5, "cross_process": 2, "duplicates": 7})
    assert "812 wf/s" in text
    assert "2 cross-process, 7 duplicate runs" in text
    assert "database —" in text  # not measured: shown as such, not as 0


def test_payloads_have_the_requested_size_and_do_not_compress() -> None:
    import zlib

    for raw in (False, True):
        payload = make_payload(100 * 1024, raw)
        assert len(payload) == 100 * 1024
        data = payload.encode() if isinstance(payload, str) else payload
        assert len(zlib.compress(data)) > 0.7 * len(data)
        assert payload_len(event_data(100 * 1024, raw)) == 100 * 1024
