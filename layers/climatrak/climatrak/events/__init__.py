"""The events backbone: the outbox relay, the outbox repository and the operator's tools.

Modules never import this package to emit events (they use `climatrak.core.events.add_to_outbox`);
it is the machinery that moves outbox items to EventBridge and keeps their status.
"""
