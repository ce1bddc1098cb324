"""Sales tax rules."""

# Standard rate, applied to every taxable line.
TAX_RATE = 0.0825

# Categories that are never taxed.
EXEMPT_CATEGORIES = {"groceries", "medicine"}


def tax_for(amount_cents: int, category: str) -> int:
    """Tax owed on a line, in cents, rounded half up."""
    if category in EXEMPT_CATEGORIES:
        return 0
    return int(amount_cents * TAX_RATE + 0.5)
