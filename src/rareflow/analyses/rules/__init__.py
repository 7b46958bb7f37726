"""One detector per rule: `<rule>.py` holds the rule named exactly as the contract's
vocabulary spells it. `analyses/registry.py` lists them."""
