#!/bin/sh
# python-kubernetes (Debian 22.6.0): see pyclient.py.
. "$(dirname "$0")/lib.sh"
k3core_start
/usr/bin/python3 "$(dirname "$0")/pyclient.py" "$FIX" || fail "python-kubernetes client"
