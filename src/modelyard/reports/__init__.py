"""Reports: documents read across the subsystems for people — model cards today (Markdown and a
self-contained HTML page), validation and monitoring reports as they join.

A reader in the layers: it may import any subsystem and none imports it. What a report shows is
generated from stored facts; what people write into one (a card's hand-written fields) is stored
by its subsystem (``modelyard.registry.card_fields``).
"""
