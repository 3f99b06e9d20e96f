"""Stages run in shards on an existing distributed engine (Ray)."""
