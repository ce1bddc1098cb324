"""Invoices and their totals."""

from dataclasses import dataclass, field

from .tax import tax_for


@dataclass
class LineItem:
    name: str
    unit_cents: int
    quantity: int = 1
    category: str = "general"

    def subtotal(self) -> int:
        return self.unit_cents * self.quantity


@dataclass
class Invoice:
    items: list[LineItem] = field(default_factory=list)

    def add(self, item: LineItem) -> None:
        self.items.append(item)

    def tax(self) -> int:
        return sum(tax_for(i.subtotal(), i.category) for i in self.items)

    def total(self) -> int:
        return sum(i.subtotal() for i in self.items) + self.tax()
