"""One sync run: plan (pure), fetch, apply, write back, commit; state, git, lease."""
