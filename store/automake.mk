# store: see the module comments of its sources.
