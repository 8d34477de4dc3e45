"""Ouroboros: CI infrastructure that is tested like the code it tests."""
