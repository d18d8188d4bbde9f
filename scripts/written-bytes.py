#!/usr/bin/env python3
"""Runs a command and prints, as one line of JSON, what it and the children it waited for wrote
to and read from the device (getrusage: ru_oublock and ru_inblock, 512-byte units), its CPU
seconds and its wall time. Used for docs/BENCHMARKS.md, "Deltas with removals":

    scripts/written-bytes.py build/bin/telos-stress --memories 30000 --duration 60 ...
"""
import json
import os
import sys
import time

if len(sys.argv) < 2:
    sys.exit("usage: written-bytes.py COMMAND [ARGS...]")
started = time.time()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(json.dumps({"exit": os.waitstatus_to_exitcode(status),
                  "written_bytes": usage.ru_oublock * 512,
                  "read_bytes": usage.ru_inblock * 512,
                  "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
                  "wall_s": time.time() - started}))
sys.exit(os.waitstatus_to_exitcode(status))
