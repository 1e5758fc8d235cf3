"""Real parts the tests run on loopback: free ports and an SMTP relay that keeps what it gets."""
