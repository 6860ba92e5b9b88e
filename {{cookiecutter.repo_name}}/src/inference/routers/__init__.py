"""The API's routes, grouped by purpose."""
