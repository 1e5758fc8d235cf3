"""The sources the agent may answer from: product detail pages, their index, policy data."""
