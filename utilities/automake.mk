# utilities: see the module comments of its sources.
