"""The agent core: one turn pipeline behind every channel. It never imports a channel."""
