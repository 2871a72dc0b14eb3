"""``python -m bot.settings > config/schema.json``: print the config's JSON Schema (nothing else)."""

import sys

from bot.settings import schema

sys.stdout.write(schema.render())
