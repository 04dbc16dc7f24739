"""The start form on the page: one NiceGUI widget per :class:`~edda_viewer._form_schema.FormField`.

Each node holds its widgets, returns its raw value (what :func:`~edda_viewer._form_values.read_form` converts and
validates) and shows the errors found for its path. Elements carry ``data-path="customer.address.city"`` so that
tests and users' scripts can find a field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from nicegui import ui

from edda_viewer._form_schema import NO_DEFAULT, FieldKind, FormField
from edda_viewer._form_values import FieldPath, FormErrors

__all__ = ["StartForm"]


def _path_text(path: FieldPath) -> str:
    return ".".join(str(p) for p in path)


def _mark(element: Any, path: FieldPath, attribute: str = "data-path") -> Any:
    element.props[attribute] = _path_text(path)
    return element


class _Node(Protocol):
    def raw(self) -> Any: ...

    def show_error(self, message: str | None) -> None: ...

    def child(self, key: str | int) -> _Node | None: ...

    def clear_errors(self) -> None: ...


def _label(field: FormField) -> str:
    return field.label + ("" if field.required else " (optional)" if field.nullable else "")


class _Scalar:
    """A text, number, switch, choice or JSON field."""

    def __init__(self, field: FormField, path: FieldPath, initial: Any) -> None:
        self.field = field
        value = field.default if initial is NO_DEFAULT else initial
        value = None if value is NO_DEFAULT else value
        label, kind = _label(field), field.kind
        self.note: ui.label | None = None
        if kind is FieldKind.BOOLEAN:
            self.element: Any = ui.switch(label, value=bool(value))
            self.note = ui.label().classes("text-negative text-xs")
            self.note.set_visibility(False)
        elif kind is FieldKind.CHOICE:
            options = {v: name for name, v in field.choices}
            self.element = ui.select(options, label=label, value=value, clearable=field.nullable)
        elif kind in (FieldKind.INTEGER, FieldKind.NUMBER):
            self.element = ui.number(label, value=value)
            self.element.props["step"] = 1 if kind is FieldKind.INTEGER else "any"
        elif kind is FieldKind.JSON:
            text = "" if value is None else json.dumps(value, indent=2)
            self.element = ui.textarea(label, value=text, placeholder=field.hint or "JSON").props("autogrow")
        else:
            self.element = ui.input(label, value="" if value is None else str(value))
        _mark(self.element.classes("w-full"), path)
        if field.hint and kind is not FieldKind.JSON:
            self.element.props["hint"] = field.hint

    def raw(self) -> Any:
        return self.element.value

    def show_error(self, message: str | None) -> None:
        if self.note is not None:
            self.note.set_text(message or "")
            self.note.set_visibility(message is not None)
        else:
            self.element.error = message

    def child(self, key: str | int) -> _Node | None:
        return None

    def clear_errors(self) -> None:
        self.show_error(None)


class _Group:
    """The fields of a model or dataclass, in a card; an optional group has a switch that includes it."""

    def __init__(self, field: FormField, path: FieldPath, initial: Any) -> None:
        self.field = field
        value = field.default if initial is NO_DEFAULT else initial
        values = value if isinstance(value, dict) else {}
        self.children: dict[str, _Node] = {}
        with _mark(ui.card().classes("w-full gap-1 p-3").props("flat bordered"), path):
            with ui.row().classes("items-center gap-2"):
                ui.label(_label(field)).classes("font-medium")
                self.include = ui.switch("provide", value=value not in (None, NO_DEFAULT) or not field.nullable)
                self.include.set_visibility(field.nullable)
            self.note = ui.label().classes("text-negative text-xs")
            self.note.set_visibility(False)
            self.body = ui.column().classes("w-full gap-1 pl-2")
            self.body.bind_visibility_from(self.include, "value")
            with self.body:
                for child in field.children:
                    self.children[child.name] = build_node(
                        child, (*path, child.name), values.get(child.name, NO_DEFAULT)
                    )

    def raw(self) -> Any:
        if not self.include.value:
            return None
        return {name: node.raw() for name, node in self.children.items()}

    def show_error(self, message: str | None) -> None:
        self.note.set_text(message or "")
        self.note.set_visibility(message is not None)

    def child(self, key: str | int) -> _Node | None:
        return self.children.get(str(key))

    def clear_errors(self) -> None:
        self.show_error(None)
        for node in self.children.values():
            node.clear_errors()


class _List:
    """Items added and removed with buttons."""

    def __init__(self, field: FormField, path: FieldPath, initial: Any) -> None:
        assert field.item is not None
        self.field, self.item, self.path = field, field.item, path
        self.items: list[tuple[ui.row, _Node]] = []
        value = field.default if initial is NO_DEFAULT else initial
        with _mark(ui.column().classes("w-full gap-1"), path):
            ui.label(_label(field)).classes("font-medium")
            self.note = ui.label().classes("text-negative text-xs")
            self.note.set_visibility(False)
            self.rows = ui.column().classes("w-full gap-1 pl-2")
            noun = field.name.rstrip("s") or "item"
            add = ui.button(f"Add {noun}", icon="add", on_click=lambda: self.add(NO_DEFAULT)).props(
                "flat dense no-caps"
            )
            _mark(add, path, "data-add")
        for item in value if isinstance(value, list) else []:
            self.add(item)

    def add(self, initial: Any) -> None:
        index = len(self.items)
        with self.rows, ui.row().classes("w-full items-start no-wrap gap-1") as row:
            with ui.column().classes("grow gap-0"):
                node = build_node(self.item, (*self.path, index), initial)
            ui.button(icon="delete", on_click=self._remover(row)).props("flat dense round aria-label=remove")
        self.items.append((row, node))

    def _remover(self, row: ui.row) -> Callable[[], None]:
        return lambda: self.remove(row)

    def remove(self, row: ui.row) -> None:
        self.items = [(r, n) for r, n in self.items if r is not row]
        row.delete()

    def raw(self) -> Any:
        return [node.raw() for _, node in self.items]

    def show_error(self, message: str | None) -> None:
        self.note.set_text(message or "")
        self.note.set_visibility(message is not None)

    def child(self, key: str | int) -> _Node | None:
        return self.items[key][1] if isinstance(key, int) and 0 <= key < len(self.items) else None

    def clear_errors(self) -> None:
        self.show_error(None)
        for _, node in self.items:
            node.clear_errors()


def build_node(field: FormField, path: FieldPath, initial: Any = NO_DEFAULT) -> _Node:
    if field.kind is FieldKind.GROUP:
        return _Group(field, path, initial)
    if field.kind is FieldKind.LIST:
        return _List(field, path, initial)
    return _Scalar(field, path, initial)


class StartForm:
    """The form of one workflow's parameters, built in the current NiceGUI context."""

    def __init__(self, fields: tuple[FormField, ...]) -> None:
        self.fields = fields
        self.nodes = {f.name: build_node(f, (f.name,)) for f in fields}

    def raw(self) -> dict[str, Any]:
        return {name: node.raw() for name, node in self.nodes.items()}

    def show_errors(self, errors: FormErrors) -> None:
        """Show each error at the deepest field of its path; the rest of the path prefixes the message."""
        for node in self.nodes.values():
            node.clear_errors()
        shown: dict[int, tuple[_Node, list[str]]] = {}
        for path, message in errors.items():
            node: _Node | None = self.nodes.get(str(path[0]))
            if node is None:
                continue
            depth = 1
            while depth < len(path) and (deeper := node.child(path[depth])) is not None:
                node, depth = deeper, depth + 1
            rest = _path_text(path[depth:])
            entry = shown.setdefault(id(node), (node, []))
            entry[1].append(f"{rest}: {message}" if rest else message)
        for node, messages in shown.values():
            node.show_error("; ".join(messages))
