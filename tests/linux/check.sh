#!/usr/bin/env bash
# One check from a Linux-guest tier run: passes when the run recorded
# "CHECK <name> PASS". Usage: check.sh BUILD_DIR NAME [CHECKS_FILE]
file=$1/tests/linux/${3:-checks.txt}
line=$(grep "^CHECK $2 " "$file" 2>/dev/null)
echo "${line:-CHECK $2 MISSING (the run did not get this far)}"
[[ "$line" == "CHECK $2 PASS"* ]]
