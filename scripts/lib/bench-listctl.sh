# Sourced by the benchmarks: sets LISTCTL_BIN to a release build of listctl,
# building it (in SWIFT_SCRATCH when set) unless LISTCTL_BIN is given.
# usage: bench_listctl_bin NAME   (NAME labels the message)
bench_listctl_bin() {
    if [ -n "${LISTCTL_BIN:-}" ]; then return; fi
    echo "$1: building listctl (release)" >&2
    local scratch=()
    if [ -n "${SWIFT_SCRATCH:-}" ]; then scratch=(--scratch-path "$SWIFT_SCRATCH"); fi
    swift build -c release --product listctl "${scratch[@]}" >&2
    LISTCTL_BIN=$(swift build -c release --show-bin-path "${scratch[@]}")/listctl
}
