"""`syncd run`: the long-running worker, webhook server, metrics, schedules."""
