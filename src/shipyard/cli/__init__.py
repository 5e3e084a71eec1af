"""The command line: a thin adapter over the same services as the API."""
