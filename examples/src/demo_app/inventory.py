"""Stock keeping: the part of demo_app that its tests exercise."""

from __future__ import annotations


class OutOfStock(Exception):
    pass


class Inventory:
    def __init__(self) -> None:
        self._stock: dict[str, int] = {}

    def add(self, sku: str, quantity: int) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self._stock[sku] = self._stock.get(sku, 0) + quantity

    def remove(self, sku: str, quantity: int) -> None:
        available = self._stock.get(sku, 0)
        if quantity > available:
            raise OutOfStock(f"{sku}: {quantity} requested, {available} available")
        self._stock[sku] = available - quantity

    def count(self, sku: str) -> int:
        return self._stock.get(sku, 0)
