"""The terminal assistant: a Textual chat over the engine (`cove chat`)."""
