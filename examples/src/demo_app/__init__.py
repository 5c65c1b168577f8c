"""demo_app: a tiny inventory service, the project that `gridgate check examples/` gates."""

from demo_app.inventory import Inventory, OutOfStock

__all__ = ["Inventory", "OutOfStock"]
