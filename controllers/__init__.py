"""
Hummingbot controllers (`controllers/<type>/<name>.py`), found by Hummingbot under its root path: set-up links this
directory there as the `controllers` package. `hbot create|deploy <name> --controller` runs them through
scripts/v2_with_controllers.py. Hummingbot's own controllers (from a checkout of its repository) can be linked in
next to these by set-up: see the README, "Controllers".
"""
