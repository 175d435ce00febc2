# k8s: see the module comments of its sources.
