"""The migration: set the schema version (waits for Redis, which may start alongside)."""
import sys
import time

from resp import command

for attempt in range(30):
    try:
        print("schema", command("SET", "schema", sys.argv[1]))
        break
    except OSError:
        time.sleep(1)
else:
    sys.exit("redis never answered on 127.0.0.1:6379")
