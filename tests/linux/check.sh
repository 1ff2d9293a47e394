#!/usr/bin/env bash
# One check from the Linux-guest tier's run: passes when linux_boot_test.sh
# recorded "CHECK <name> PASS". Usage: check.sh BUILD_DIR NAME
line=$(grep "^CHECK $2 " "$1/tests/linux/checks.txt" 2>/dev/null)
echo "${line:-CHECK $2 MISSING (the boot run did not get this far)}"
[[ "$line" == "CHECK $2 PASS"* ]]
