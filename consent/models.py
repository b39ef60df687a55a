"""Data-use register, notices, consent records and the transparency log."""
