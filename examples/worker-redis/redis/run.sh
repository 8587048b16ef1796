#!/bin/sh
# Start the packed redis-server with its own libraries; its data stays in the deployment's
# data folder, which survives releases.
exec env LD_LIBRARY_PATH="$PWD/lib" ./redis-server --bind 127.0.0.1 --port "$PORT" \
    --dir /var/lib/otter/cache/data --appendonly yes --save ""
