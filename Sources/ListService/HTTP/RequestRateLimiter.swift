import Foundation

/// At most `limit` requests per key (a client address) in any `window`:
/// a sliding log per key, in memory, for one `serve` process. Keys that go
/// quiet are dropped, so the table stays as small as the set of recent clients.
actor RequestRateLimiter {
    let limit: Int
    let window: Duration
    private var seen: [String: [ContinuousClock.Instant]] = [:]
    private var lastSweep = ContinuousClock.now

    init(limit: Int, window: Duration) {
        self.limit = limit
        self.window = window
    }

    /// Counts a request for `key`; false when it is over the limit (and then it is not counted).
    func allow(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        if now - lastSweep > window {
            seen = seen.filter { _, times in times.last.map { now - $0 < window } ?? false }
            lastSweep = now
        }
        var times = seen[key, default: []].filter { now - $0 < window }
        guard times.count < limit else {
            seen[key] = times
            return false
        }
        times.append(now)
        seen[key] = times
        return true
    }
}
