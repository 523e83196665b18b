"""factsheet: a static site generator for news fact sheets."""
