"""File formats: every file a vloc stage reads or writes goes through this package."""
