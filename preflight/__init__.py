"""Preflight: one offline command that proves a change is deployable — policy, consistency, capacity, cost.

`python3 dev.py preflight [--json]` synthesizes the stacks, renders the app chart for both environments and
the cluster-bootstrap chart, and checks all of it together. The checks are plain functions over that data
(`Inputs`), so tests build failing cases by changing the data.
"""
