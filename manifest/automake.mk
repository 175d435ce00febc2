# manifest: see the module comments of its sources.
