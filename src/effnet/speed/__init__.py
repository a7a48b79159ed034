"""Measurement: throughput, latency and peak memory of any model, checkpoint or artifact."""
