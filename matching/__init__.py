"""Expertise ranking ("who knows X"), vector search and mentoring pair assignment."""
