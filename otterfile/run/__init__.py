"""Running a plan: the engine, the deploy flow over runtimes and proxies, steps, policy."""
