# packaging: see the module comments of its sources.
