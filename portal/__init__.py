"""The seller portal: the pages and APIs a seller signs in to, and the operators' claim desk.

``channels/app.py`` mounts its routers; the portal reads the seller side and the agent and
never a customer channel. Pages are Jinja2 templates (``portal/templates``), autoescaped.
"""
