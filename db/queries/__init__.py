"""Spatial and relational queries; every function takes its connection as `conn`."""
