"""Compound-scaling experiments: the step-1 grid search, the Figure 8 / Table 7 study, tables."""
