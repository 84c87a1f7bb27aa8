"""Caching patterns: models the course uses to show what a cache buys and how it fails.

The modules here are simulations and small analytic models (hit rate against size and TTL, Che's
approximation, stampedes at expiry, write policies, invalidation) plus the helpers the course needs to
run a real Redis. They work on seeded traces and simulated time so a figure or a test gets the same
numbers every run. Import from the modules directly (``dspatterns.caching.hit_rate`` and so on): this
package file imports nothing, so importing one model never pulls in plotting or a Redis client.
"""
