"""Synthetic phantom cases built on a real brain template (training and test data)."""
