"""Pydantic models of the test server's durable tools (shared with the tests, which compare the schemas)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Address(BaseModel):
    street: str
    city: str


class Customer(BaseModel):
    name: str
    address: Address


class OrderLine(BaseModel):
    sku: str
    quantity: int = Field(ge=1)
