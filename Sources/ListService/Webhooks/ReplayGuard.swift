import Foundation

/// The keys (Mailgun tokens, svix-ids, SNS MessageIds, SendGrid signed
/// contents) seen within a provider's timestamp window. A request whose
/// timestamp is outside the window is refused for that alone, so a key
/// needs keeping only as long as the window: older ones are dropped.
///
/// A key is claimed when the request is verified and released again when
/// recording it failed, so the provider's retry of a request we answered
/// with 5xx is not taken for a replay. Kept in memory: a restart forgets,
/// and two `serve` processes do not share it (docs/WEBHOOKS.md).
actor ReplayGuard {
    private let window: TimeInterval
    private let capacity: Int
    private var expiries: [String: Date] = [:]

    init(window: TimeInterval, capacity: Int = 100_000) {
        self.window = window
        self.capacity = capacity
    }

    /// `true` when `key` was not seen within the window (and is now claimed), `false` for a replay.
    func claim(_ key: String, now: Date = Date()) -> Bool {
        if let expiry = expiries[key], expiry > now { return false }
        if expiries.count >= capacity { prune(now: now) }
        expiries[key] = now.addingTimeInterval(window)
        return true
    }

    /// Forgets `key`: its request was not recorded, so the provider's retry must get through.
    func release(_ key: String) {
        expiries[key] = nil
    }

    private func prune(now: Date) {
        expiries = expiries.filter { $0.value > now }
        // Still full of live keys (only verified requests get here): drop the oldest half.
        if expiries.count >= capacity {
            let keep = expiries.sorted { $0.value > $1.value }.prefix(capacity / 2)
            expiries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }
}

extension ReplayGuard {
    /// Claims `key`, then reads the verified request's events with `read`: a
    /// key seen before throws `replay`; a failed read releases the key at once;
    /// the events carry it (``WebhookEvents/replayKey``) so that a failed
    /// recording can release it too.
    nonisolated func events(
        claiming key: String, now: Date, replay: WebhookError, _ read: () async throws(WebhookError) -> WebhookEvents
    ) async throws(WebhookError) -> WebhookEvents {
        guard await claim(key, now: now) else { throw replay }
        do throws(WebhookError) {
            var events = try await read()
            events.replayKey = key
            return events
        } catch {
            await release(key)
            throw error
        }
    }
}

/// A verifier that takes each request once, through its ``ReplayGuard``.
protocol ReplayGuardedVerifier: WebhookVerifier {
    var replays: ReplayGuard { get }
}

extension ReplayGuardedVerifier {
    func release(_ events: WebhookEvents) async {
        if let key = events.replayKey { await replays.release(key) }
    }
}
