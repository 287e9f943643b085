"""Benchmark harness: datasets, perturbations, metrics with named protocols, result tables."""
