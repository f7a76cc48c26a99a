"""Waybill printing: label rendering (labels.py) and print jobs."""
