"""Training: datasets over decoded clips, the loop, metrics and plots (torch)."""
