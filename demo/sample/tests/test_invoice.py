import unittest

from billing import Invoice, LineItem


class InvoiceTest(unittest.TestCase):
    def test_total_includes_tax(self):
        inv = Invoice()
        inv.add(LineItem("lamp", 2000))
        self.assertEqual(inv.tax(), 165)
        self.assertEqual(inv.total(), 2165)

    def test_groceries_are_exempt(self):
        inv = Invoice()
        inv.add(LineItem("apples", 500, 2, category="groceries"))
        self.assertEqual(inv.tax(), 0)
        self.assertEqual(inv.total(), 1000)


if __name__ == "__main__":
    unittest.main()
