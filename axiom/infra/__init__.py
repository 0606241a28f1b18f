"""Adapters to shared infrastructure (Redis and the like): live events, the delivery guard, caches,
and the deployment secret's store."""
