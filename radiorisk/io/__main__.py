"""``python -m radiorisk.io`` prints docs/schemas.md (redirect it to regenerate the file)."""

from . import schema_docs

print(schema_docs(), end="")
