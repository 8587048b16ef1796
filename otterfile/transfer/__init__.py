"""How artifacts move: ship, missing layers, fan-out, relay, and the image stores they read."""
