"""``plancontrol diff``: two run folders read (record), compared (compare), shown (render, page)."""
