"""Compound-scaling experiments: the step-1 grid search, the Figure 8 / Table 7 study, tables.

``grid_search`` and ``study`` plan their networks and train them through one cached, parallel
executor (``runner``); ``settings`` reads an experiment's typed settings (``SearchConfig``,
``StudyConfig``) from the same single execution of its config file as the training config;
``matching`` grows one dimension to a FLOP budget; ``search_report`` and ``study_report`` write
the tables and plots; ``reproduce`` puts the paper's tables beside effnet's counts.
"""
