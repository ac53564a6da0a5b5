"""Helpers for testing spancast and the services around it: a scripted local OTLP receiver."""
