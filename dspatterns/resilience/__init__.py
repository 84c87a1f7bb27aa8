"""Resilience patterns: models the course uses to show how breakers and friends behave over time."""
from dspatterns.resilience.breaker_simulation import (
    BreakerRun,
    Call,
    FailureProfile,
    StateInterval,
    simulate_breaker,
)

__all__ = ["BreakerRun", "Call", "FailureProfile", "StateInterval", "simulate_breaker"]
