"""Households, applications and cards: the family pages and the rules behind them."""
