"""The run folder: its layout, lock, journal and the snapshot a resume or fork starts from."""
