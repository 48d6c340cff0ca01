import Foundation
import Synchronization

/// The lists a token names, read from the database at most once per
/// ``lifetime``: every request under a token looks its list up (its name, its
/// public root, its page template), and a one-click unsubscribe would
/// otherwise make two round trips where one does. The archive's pages find
/// the lists of a request's root here too (who may read them is checked in
/// the database on each request). (`/subscribe` reads the
/// lists each time: it is rate-limited, and a new list is found at once.) A change with `listctl lists set` (name, base URL,
/// page template) shows within ``lifetime``; a deleted list's tokens find no
/// subscription, whatever the cache still says.
final class ListCache: Sendable {
    static let lifetime: TimeInterval = 5

    private let store: ListStore
    private let state = Mutex<(lists: [Int64: MailingList], read: Date)?>(nil)

    init(store: ListStore) { self.store = store }

    /// The list with `id`, or nil when there is none.
    func list(id: Int64, now: Date = Date()) async throws -> MailingList? {
        if let lists = fresh(now: now), let list = lists[id] { return list }
        // Unknown here, or stale: read them all again (a list created since is found at once).
        let lists = try await store.all()
        let byID = Dictionary(lists.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        state.withLock { $0 = (byID, now) }
        return byID[id]
    }

    /// The lists `matching`, from the cache while it is fresh; read again when it is stale, or, with
    /// `readOnMiss`, when none in it matches (a list created since, or a new base URL, is found at once).
    func all(now: Date = Date(), readOnMiss: Bool = true, matching: (MailingList) -> Bool) async throws -> [MailingList] {
        if let lists = fresh(now: now) {
            let found = lists.values.filter(matching)
            if !found.isEmpty || !readOnMiss { return found.sorted { $0.id < $1.id } }
        }
        let lists = try await store.all()
        state.withLock { $0 = (Dictionary(lists.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first }), now) }
        return lists.filter(matching)
    }

    private func fresh(now: Date) -> [Int64: MailingList]? {
        state.withLock { cached in
            guard let cached, now.timeIntervalSince(cached.read) < Self.lifetime, now >= cached.read else { return nil }
            return cached.lists
        }
    }
}
