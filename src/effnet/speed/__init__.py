"""Speed and cost: per-stage profiles, BN folding, inference backends, timing, Table 4, pick."""
