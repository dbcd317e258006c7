"""Pipeline stages over typed records: decode, shot detection, scoring, dedupe, clip extraction, sharding."""
