"""Weight porting and numerical comparison. Imports the frameworks lazily."""
