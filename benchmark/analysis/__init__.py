"""Looking inside encoders (`bench analyze`): contextual similarity, cross-lingual alignment, language shift,
in-context learning, and the records they write."""
