# tests: see the module comments of its sources.
