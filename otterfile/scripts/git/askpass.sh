#!/bin/sh
case "$1" in
  Username*) printf '%s\n' "$OTTER_GIT_USER" ;;
  *) printf '%s\n' "$OTTER_GIT_PASSWORD" ;;
esac
