"""The edges: each module turns one wire format into the agent's input and its reply back."""
