from .invoice import Invoice, LineItem

__all__ = ["Invoice", "LineItem"]
