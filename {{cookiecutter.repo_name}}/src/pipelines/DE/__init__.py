"""Data engineering: raw files -> bronze -> silver (+ quarantine) -> gold feature view."""
