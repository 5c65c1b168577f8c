import pytest

from demo_app import Inventory, OutOfStock


def test_add_and_count() -> None:
    inventory = Inventory()
    inventory.add("apple", 3)
    inventory.add("apple", 2)
    assert inventory.count("apple") == 5


def test_remove() -> None:
    inventory = Inventory()
    inventory.add("pear", 2)
    inventory.remove("pear", 2)
    assert inventory.count("pear") == 0


def test_remove_more_than_available() -> None:
    inventory = Inventory()
    with pytest.raises(OutOfStock, match="pear: 1 requested, 0 available"):
        inventory.remove("pear", 1)


@pytest.mark.parametrize("quantity", [0, -1])
def test_add_rejects_non_positive(quantity: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        Inventory().add("plum", quantity)
