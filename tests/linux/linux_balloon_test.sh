#!/usr/bin/env bash
# The Linux-guest balloon tier: the appliance runs as a named VM under the
# managed VMM (`insula vm`) inside the emulated-hardware test host; the host
# inflates and deflates its balloon through the API (tests/linux/inner_balloon.sh).
# Stores CHECK lines for check.sh. Usage: linux_balloon_test.sh BUILD_DIR
exec "$(dirname "$0")/linux_vm_test.sh" "$1" inner_balloon.sh balloon_checks.txt
