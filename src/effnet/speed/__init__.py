"""Speed and cost: per-stage profiles, BN folding, inference backends, one timing loop, peak
memory, Table 4, pick."""
