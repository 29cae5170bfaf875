"""The exchange itself: aggregates, events, rules and use cases."""
