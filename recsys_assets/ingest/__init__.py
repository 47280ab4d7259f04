"""Input: the one contract of the logs (tables, columns, vocabularies), its reader and validation."""
