"""Reports from results.json: the HTML page, baselines for pre-upgrade checks, and the nightly history."""
