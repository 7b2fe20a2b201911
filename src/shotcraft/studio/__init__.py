"""The studio: persistent projects, assets, takes and jobs, and the workers that run the jobs.

The store (:mod:`shotcraft.studio.store`) is the only shared state: the API process and any number of
worker processes meet there, so a crashing job never takes the server down.
"""
