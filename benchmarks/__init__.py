"""Scripts that print measured figures: training speed, browser cost, explorer latency."""
