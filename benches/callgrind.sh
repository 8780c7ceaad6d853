# Sourced by the instruction-count scripts (run from the repository root).
# `callgrind_ir [VALGRIND OPTIONS...] PROGRAM ARGS...` prints the instructions
# callgrind counted for one run. Address randomisation is off:
# buddy_system_allocator's path length depends on the arena's address
# alignment.
command -v valgrind >/dev/null || { echo "valgrind is not installed: apt-get install valgrind"; exit 1; }
norandom=()
if setarch "$(uname -m)" -R true 2>/dev/null; then norandom=(setarch "$(uname -m)" -R); fi
callgrind_ir() {
  "${norandom[@]}" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
