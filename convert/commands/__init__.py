"""`cove convert`, `cove quantize` and `cove verify`: argument parsing only, work in convert/."""
