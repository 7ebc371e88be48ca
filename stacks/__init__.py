"""One TerraformStack per file; `main.py` wires them."""
